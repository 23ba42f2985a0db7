// Converts the sampler's counter baselines to and from the ledger's checkpoint entry, so the
// baseline is durable in the same fsynced batch as the usage it produced (invariant 3).
import type { CgroupCounters } from '../ledger/counter-state.ts';
import type { CounterBaseline, SamplerBaselines } from './tick.ts';

const NODE_KEY = 'node';
const BIGINT_FIELDS = [
  'cpuNs',
  'ioReadBytes',
  'ioWriteBytes',
  'netRxBytes',
  'netTxBytes',
  'memoryWorkingSetBytes',
  'memoryRssBytes',
  'memoryCarry',
  'rssCarry',
] as const;
const NETNS = /^net:\[(\d+)\]$/;

function toCounters(baseline: CounterBaseline): Record<string, bigint> {
  const counters: Record<string, bigint> = {};
  for (const field of BIGINT_FIELDS) {
    const value = baseline[field];
    if (value !== undefined) counters[field] = value;
  }
  const netNs = baseline.netNs === undefined ? null : NETNS.exec(baseline.netNs);
  if (netNs?.[1] !== undefined) counters.netNsInode = BigInt(netNs[1]);
  return counters;
}

function fromCounters(
  identity: string,
  counters: Readonly<Record<string, bigint>>,
): CounterBaseline {
  const baseline: { -readonly [K in keyof CounterBaseline]: CounterBaseline[K] } = { identity };
  for (const field of BIGINT_FIELDS) {
    const value = counters[field];
    if (value !== undefined) baseline[field] = value;
  }
  if (counters.netNsInode !== undefined) baseline.netNs = `net:[${counters.netNsInode}]`;
  return baseline;
}

/** Checkpoint key: pod uid and cgroup identity, so a recreated cgroup is a different key. */
export function baselinesToCheckpoint(baselines: SamplerBaselines): CgroupCounters[] {
  const cgroups: CgroupCounters[] = [];
  for (const [uid, baseline] of baselines.pods) {
    cgroups.push({
      key: `${uid}@${baseline.identity}`,
      podUid: uid,
      counters: toCounters(baseline),
    });
  }
  if (baselines.node !== undefined) {
    cgroups.push({ key: NODE_KEY, podUid: null, counters: toCounters(baselines.node) });
  }
  return cgroups;
}

export function baselinesFromCheckpoint(cgroups: Iterable<CgroupCounters>): SamplerBaselines {
  const pods = new Map<string, CounterBaseline>();
  let node: CounterBaseline | undefined;
  for (const cgroup of cgroups) {
    if (cgroup.podUid === null) {
      node = fromCounters(NODE_KEY, cgroup.counters);
      continue;
    }
    const identity = cgroup.key.slice(cgroup.podUid.length + 1);
    pods.set(cgroup.podUid, fromCounters(identity, cgroup.counters));
  }
  return { pods, node };
}
