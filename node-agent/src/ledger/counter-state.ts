import type { CheckpointBody, CheckpointEntry, LedgerEntry, TimeRange } from '@agentmeter/crds';
import { LedgerStoreError } from './errors.ts';

/**
 * The counter baseline lives in the ledger itself, not in a separate state file: every tick's
 * batch ends with a `checkpoint` entry holding the cumulative counters that the tick's usage
 * deltas were computed up to, and the whole batch is one write + fdatasync that recovery keeps
 * or drops as a unit. So after any crash the last durable checkpoint is exactly the baseline
 * of the last durable usage: deltas after it were never recorded (the next tick measures them
 * from that baseline, none lost), deltas before it are already in the ledger (none counted
 * again). A separate file could disagree with the ledger by one tick in either direction.
 */

/** Cumulative counters of one cgroup (or the node itself, podUid null) as last read. */
export interface CgroupCounters {
  /** Cgroup identity: pod uid plus cgroup inode, so a recreated cgroup is a new key (a reset). */
  readonly key: string;
  readonly podUid: string | null;
  readonly counters: Readonly<Record<string, bigint>>;
}

export interface Baseline {
  /** Seq of the checkpoint entry; the usage it baselines is in its batch. */
  readonly seq: bigint;
  readonly tick: string;
  readonly time: TimeRange;
  readonly cgroups: ReadonlyMap<string, CgroupCounters>;
}

/** The checkpoint entry body closing a tick's batch; cgroups sorted by key for stable output. */
export function checkpointBody(
  tick: string,
  time: TimeRange,
  cgroups: Iterable<CgroupCounters>,
): CheckpointBody {
  const sorted = [...cgroups].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return {
    kind: 'checkpoint',
    tick,
    time,
    // Keys in canonical order throughout, so the ledger writer passes them through uncopied.
    cgroups: sorted.map((cgroup) => ({
      counters: wireCounters(cgroup),
      key: cgroup.key,
      podUid: cgroup.podUid,
    })),
  };
}

/** The counters as decimal strings, by name in sorted order. */
function wireCounters(cgroup: CgroupCounters): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(cgroup.counters).sort()) {
    const value = cgroup.counters[name] as bigint;
    if (value < 0n) {
      throw new LedgerStoreError(
        'invalid-argument',
        `counter ${name} of ${cgroup.key} is negative`,
      );
    }
    out[name] = value.toString();
  }
  return out;
}

export function baselineFromCheckpoint(entry: CheckpointEntry): Baseline {
  const cgroups = new Map<string, CgroupCounters>();
  for (const cgroup of entry.cgroups) {
    const counters: Record<string, bigint> = {};
    for (const [name, value] of Object.entries(cgroup.counters)) counters[name] = BigInt(value);
    cgroups.set(cgroup.key, { key: cgroup.key, podUid: cgroup.podUid, counters });
  }
  return { seq: BigInt(entry.seq), tick: entry.tick, time: entry.time, cgroups };
}

/** The baseline as of the last durable tick, or null for a ledger that has none yet. */
export async function recoverBaseline(store: {
  findLast(predicate: (entry: LedgerEntry) => boolean): Promise<LedgerEntry | null>;
}): Promise<Baseline | null> {
  const entry = await store.findLast((candidate) => candidate.kind === 'checkpoint');
  return entry === null ? null : baselineFromCheckpoint(entry as CheckpointEntry);
}
