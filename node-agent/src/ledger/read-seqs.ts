// Reads a set of entries by seq (a session's entries, for `/v1/sessions/{ns}/{id}/calls`).
// Entries already compacted away are counted, not fatal: the caller says its answer is partial.
import type { LedgerEntry } from '@agentmeter/crds';
import { LedgerRangeError } from './errors.ts';
import type { LedgerStore } from './segment-store.ts';

export async function readSeqs(
  store: Pick<LedgerStore, 'anchor' | 'readAfter'>,
  seqs: readonly number[],
): Promise<{ entries: LedgerEntry[]; missing: number }> {
  const want = new Set(seqs);
  const got = new Map<number, LedgerEntry>();
  let missing = 0;
  for (const seq of seqs) {
    if (got.has(seq)) continue;
    if (BigInt(seq) <= store.anchor().seq) {
      missing++;
      continue;
    }
    try {
      // One read returns the rest of the entry's batch: later seqs of it need no read.
      for (const entry of await store.readAfter(BigInt(seq) - 1n, 1)) {
        const n = Number(entry.seq);
        if (want.has(n)) got.set(n, entry);
      }
    } catch (err) {
      if (!(err instanceof LedgerRangeError)) throw err;
      missing++;
    }
  }
  return { entries: [...got.values()], missing };
}
