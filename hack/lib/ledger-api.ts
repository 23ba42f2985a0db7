// Reads an agent's ledger through its pull API (GET /v1/ledger), page by page from the first
// entry, as the operator does: with a bearer token for the agents' audience whose subject may
// get ledgers.agentmeter.dev. Used by the demo and the cluster suites.
import type { LedgerEntry } from '@agentmeter/crds';

export interface LedgerAccess {
  /** The agent's API, e.g. http://<pod IP>:9464. */
  readonly url: string;
  readonly token: string;
}

export async function pullLedger(access: LedgerAccess): Promise<LedgerEntry[]> {
  const out: LedgerEntry[] = [];
  let cursor = '0';
  for (;;) {
    const res = await fetch(`${access.url}/v1/ledger?after=${cursor}&limit=5000`, {
      headers: { authorization: `Bearer ${access.token}` },
    });
    if (!res.ok) throw new Error(`GET /v1/ledger: ${res.status} ${await res.text()}`);
    const page = (await res.json()) as { entries: LedgerEntry[]; next: string | null };
    out.push(...page.entries);
    if (page.next === null) return out;
    cursor = page.next;
  }
}
