// The recent activity guards look at, kept across rounds. Records are stored per ledger entry
// (node and seq), so a round that is run again after a status conflict, or an entry pulled again
// after a failed write, replaces its records instead of adding them twice: the window is a
// function of the ledger positions counted, never of how many rounds ran.
import type { SessionActivity } from './evaluate.ts';

/** The activity of one ledger entry, named by its position. */
export interface EntryActivity {
  /** "node/seq". */
  readonly entry: string;
  readonly records: readonly SessionActivity[];
}

export function entryKey(node: string, seq: bigint): string {
  return `${node}/${seq}`;
}

export class ActivityWindow {
  readonly #byEntry = new Map<string, readonly SessionActivity[]>();
  /** The stored form (status.guards.window) this window was last written as or read from. */
  stored: string | undefined;

  /** Holds exactly what a policy's status stored (read after a restart or failover). */
  restore(entries: readonly EntryActivity[], stored: string | undefined): void {
    this.#byEntry.clear();
    this.commit(entries);
    this.stored = stored;
  }

  /** Keeps the activity of entries a committed status now counts. */
  commit(entries: readonly EntryActivity[]): void {
    for (const e of entries) this.#byEntry.set(e.entry, e.records);
  }

  /** Drops entries whose records are all before `sinceMs`. */
  prune(sinceMs: number): void {
    for (const [key, records] of this.#byEntry) {
      if (records.every((r) => r.atMs < sinceMs)) this.#byEntry.delete(key);
    }
  }

  /** The entries the window holds once `pending` is committed and what ends before `sinceMs`
   * is pruned: what the status stores with this round's cursors. */
  after(pending: readonly EntryActivity[], sinceMs: number): EntryActivity[] {
    const all = new Map(this.#byEntry);
    for (const e of pending) all.set(e.entry, e.records);
    return [...all]
      .filter(([, records]) => records.some((r) => r.atMs >= sinceMs))
      .map(([entry, records]) => ({ entry, records }));
  }

  /** The committed records with `pending` (this round's, not yet committed) over them, each
   * entry once, after `afterMs` (activity a clear forgave is left out). */
  records(pending: readonly EntryActivity[], afterMs: number): SessionActivity[] {
    const all = new Map(this.#byEntry);
    for (const e of pending) all.set(e.entry, e.records);
    return [...all.values()].flat().filter((r) => r.atMs > afterMs);
  }

  get size(): number {
    return this.#byEntry.size;
  }
}
