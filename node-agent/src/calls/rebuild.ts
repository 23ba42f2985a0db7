// At start, the dedupe set is rebuilt from the calls entries the ledger already holds: the
// ledger is written first and is the mark, so a crash between writing a call and remembering it
// loses nothing, and a retry after a restart is still recognised.
import { ledgerCalls, type LedgerEntry } from '@agentmeter/crds';
import type { CallDedupe } from './dedupe.ts';

export interface LedgerReader {
  head(): { readonly seq: bigint };
  seqBeforeTime(timeNs: bigint): bigint;
  readAfter(after: bigint, limit: number): Promise<LedgerEntry[]>;
}

/** A calls entry's time is its tick's; its calls may end up to this much later (watermark). */
export const CALL_ENTRY_SLACK_NS = 10n * 60n * 1_000_000_000n;
const READ_ENTRIES = 256;

/** Marks every written call of the window; returns how many calls it marked. */
export async function rebuildDedupe(
  ledger: LedgerReader,
  dedupe: CallDedupe,
  nowNs: bigint,
): Promise<number> {
  const since = nowNs - dedupe.windowNs;
  let after = ledger.seqBeforeTime(since - CALL_ENTRY_SLACK_NS);
  const head = ledger.head().seq;
  let marked = 0;
  while (after < head) {
    const entries = await ledger.readAfter(after, READ_ENTRIES);
    for (const call of ledgerCalls(entries)) {
      if (call.endNs < since) continue;
      dedupe.markWritten(call);
      marked++;
    }
    const last = entries.at(-1);
    if (last === undefined) break;
    after = BigInt(last.seq);
  }
  return marked;
}
