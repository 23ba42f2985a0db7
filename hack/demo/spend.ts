// The demo's total: what the operator reports as the demo policy's spend (CostPolicy status)
// and what the agent's ledger holds up to the operator's cursor. Pure functions on the status
// and the entries; the two must agree to the nano-unit.
import type { LedgerEntry } from '@agentmeter/crds';

/** The operator's committed ledger position for `node`, from status.collection.cursors. */
export function cursorSeq(cursors: string | undefined, node: string): bigint | undefined {
  for (const line of (cursors ?? '').split('\n')) {
    const [name, seq] = line.split(' ');
    if (name === node && seq) return BigInt(seq);
  }
  return undefined;
}

/** Sum, in nano-units, of every entry up to `seq` that `policy` priced: pods' usage, tokens (older ledgers) and calls. */
export function ledgerSpendNano(
  entries: readonly LedgerEntry[],
  policy: string,
  seq: bigint,
): bigint {
  let sum = 0n;
  for (const e of entries) {
    if (BigInt(e.seq) > seq) continue;
    if (
      (e.kind === 'pod-usage' || e.kind === 'tokens' || e.kind === 'calls') &&
      e.cost?.policy.name === policy
    )
      sum += BigInt(e.cost.totalNano);
  }
  return sum;
}
