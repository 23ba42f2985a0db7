// One tick of the sampler as a pure function: previous baselines + this tick's readings →
// per-pod usage, node usage split into pods and non-pod, and the new baselines. Everything is an
// integer; a counter that could not be read keeps its old baseline, so its usage is counted on
// the next tick that reads it instead of being lost.
import { addUsage, sumUsage, zeroUsage, type Usage } from '@agentmeter/crds';
import { counterDelta, integrateGauge, type ResetReason } from './counter-delta.ts';

/** Cumulative counters and gauges of one pod cgroup at one instant; null = not readable now. */
export interface PodReading {
  readonly uid: string;
  /** Identity of the cgroup incarnation (directory inodes); null when it could not be read. */
  readonly identity: string | null;
  readonly cpuNs: bigint | null;
  readonly ioReadBytes: bigint | null;
  readonly ioWriteBytes: bigint | null;
  /** Network counters belong to the pod's network namespace, identified by `netNs`. */
  readonly netNs: string | null;
  readonly netRxBytes: bigint | null;
  readonly netTxBytes: bigint | null;
  readonly memoryWorkingSetBytes: bigint | null;
  readonly memoryRssBytes: bigint | null;
}

export interface NodeReading {
  readonly cpuNs: bigint | null;
  readonly ioReadBytes: bigint | null;
  readonly ioWriteBytes: bigint | null;
  readonly memoryWorkingSetBytes: bigint | null;
  readonly memoryRssBytes: bigint | null;
}

/** What must survive a restart for one cgroup: its last cumulative counters (decimal-exact). */
export interface CounterBaseline {
  readonly identity: string;
  readonly cpuNs?: bigint;
  readonly ioReadBytes?: bigint;
  readonly ioWriteBytes?: bigint;
  readonly netNs?: string;
  readonly netRxBytes?: bigint;
  readonly netTxBytes?: bigint;
  readonly memoryWorkingSetBytes?: bigint;
  readonly memoryRssBytes?: bigint;
  /** Sub-byte-second remainders of the memory integrals, in byte-nanoseconds. */
  readonly memoryCarry?: bigint;
  readonly rssCarry?: bigint;
}

export interface SamplerBaselines {
  readonly pods: ReadonlyMap<string, CounterBaseline>;
  readonly node: CounterBaseline | undefined;
}

export interface PodTickUsage {
  readonly uid: string;
  readonly usage: Usage;
  /** Counters that restarted this tick, e.g. `cpu-ns-reset-identity`, recorded as ledger flags. */
  readonly flags: readonly string[];
}

export interface TickResult {
  readonly pods: readonly PodTickUsage[];
  readonly node: {
    readonly total: Usage;
    readonly pods: Usage;
    readonly nonPod: Usage;
    /**
     * Where the pods' sum exceeded the root cgroup's delta (the two are read microseconds apart),
     * the excess is recorded here and the node total is raised to the pods' sum, so the ledger
     * always conserves: total = pods + nonPod.
     */
    readonly skew: Usage;
  };
  readonly baselines: SamplerBaselines;
}

type CounterKey = 'cpuNs' | 'ioReadBytes' | 'ioWriteBytes';
const COUNTERS: readonly CounterKey[] = ['cpuNs', 'ioReadBytes', 'ioWriteBytes'];
const NET_COUNTERS = ['netRxBytes', 'netTxBytes'] as const;
const GAUGES = [
  ['memoryWorkingSetBytes', 'memoryByteSeconds', 'memoryCarry'],
  ['memoryRssBytes', 'memoryRssByteSeconds', 'rssCarry'],
] as const;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Ledger flags are kebab-case words, e.g. `cpu-ns-reset-identity`. */
function flag(name: string, reset: ResetReason, flags: string[]): void {
  if (reset !== 'none' && reset !== 'new') flags.push(`${kebab(name)}-reset-${reset}`);
}

/**
 * Usage of one cgroup since its baseline. `firstSight` says the cgroup existed before the agent
 * had any baseline for it (agent's first start): its history is not in this node's ledger
 * window, so the first reading only establishes the baseline.
 */
function cgroupUsage(
  previous: CounterBaseline | undefined,
  reading: PodReading | (NodeReading & { identity: string; netNs?: null }),
  intervalNs: bigint,
  firstSight: boolean,
  flags: string[],
): { usage: Usage; baseline: CounterBaseline } {
  const identity = reading.identity ?? previous?.identity ?? 'unknown';
  const sameCgroup = previous !== undefined && previous.identity === identity;
  const base: Mutable<CounterBaseline> = { identity };
  const usage: Mutable<Usage> = zeroUsage();

  for (const key of COUNTERS) {
    const value = reading[key];
    const before = sameCgroup ? previous[key] : undefined;
    if (value === null) {
      if (before !== undefined) base[key] = before;
      continue;
    }
    base[key] = value;
    if (firstSight && !sameCgroup) continue;
    const prior =
      before === undefined
        ? previous !== undefined && !sameCgroup
          ? { identity: previous.identity, value: 0n }
          : undefined
        : { identity, value: before };
    const { delta, reset } = counterDelta(prior, { identity, value });
    usage[key] = delta;
    flag(key, prior !== undefined && prior.identity !== identity ? 'identity' : reset, flags);
  }

  const netNs = 'netNs' in reading ? reading.netNs : null;
  // A reading with no net counters (a process in the host namespace, skipped) is no evidence
  // that the pod's namespace changed: its baseline is kept, or the pod's next reading would
  // count the namespace's whole history again.
  const netRead =
    (reading as PodReading).netRxBytes !== null || (reading as PodReading).netTxBytes !== null;
  if (
    netNs !== null &&
    netNs !== undefined &&
    (netRead || !sameCgroup || previous.netNs === undefined)
  ) {
    const sameNs = sameCgroup && previous.netNs === netNs;
    base.netNs = netNs;
    for (const key of NET_COUNTERS) {
      const value = (reading as PodReading)[key];
      const before = sameNs ? previous[key] : undefined;
      if (value === null) {
        if (before !== undefined) base[key] = before;
        continue;
      }
      base[key] = value;
      if (firstSight && !sameCgroup) continue;
      const { delta, reset } = counterDelta(
        before === undefined ? undefined : { identity: netNs, value: before },
        { identity: netNs, value },
      );
      usage[key] = delta;
      flag(key, sameCgroup && !sameNs && previous.netNs !== undefined ? 'identity' : reset, flags);
    }
  } else if (sameCgroup && previous.netNs !== undefined) {
    base.netNs = previous.netNs;
    if (previous.netRxBytes !== undefined) base.netRxBytes = previous.netRxBytes;
    if (previous.netTxBytes !== undefined) base.netTxBytes = previous.netTxBytes;
  }

  // Memory is a gauge: integrate the mean of the previous and current readings over the tick.
  for (const [gauge, integral, carryKey] of GAUGES) {
    const value = reading[gauge];
    const before = sameCgroup ? previous[gauge] : undefined;
    const carry = (sameCgroup ? previous[carryKey] : undefined) ?? 0n;
    if (value === null) {
      if (before !== undefined) base[gauge] = before;
      base[carryKey] = carry;
      continue;
    }
    base[gauge] = value;
    if (firstSight && !sameCgroup) {
      base[carryKey] = 0n;
      continue;
    }
    // Twice the mean, integrated over the interval, carried in half byte-nanoseconds.
    const doubled = integrateGauge(value + (before ?? value), intervalNs, carry * 2n);
    const byteSeconds = doubled.byteSeconds / 2n;
    const remainder = (doubled.byteSeconds % 2n) * 1_000_000_000n + doubled.carry;
    usage[integral] = byteSeconds;
    base[carryKey] = remainder / 2n;
  }
  return { usage, baseline: base };
}

export interface TickInput {
  readonly previous: SamplerBaselines;
  readonly pods: readonly PodReading[];
  readonly node: NodeReading;
  /** Monotonic length of the tick in nanoseconds. */
  readonly intervalNs: bigint;
  /**
   * True on the agent's first tick with no persisted baselines: cgroups that already exist only
   * get a baseline, because their history predates this ledger.
   */
  readonly coldStart: boolean;
  /** Pods whose cgroup is gone for good: their baselines are dropped after this tick. */
  readonly gone?: ReadonlySet<string>;
}

function nonNegativeSplit(total: Usage, pods: Usage): { nonPod: Usage; skew: Usage } {
  const nonPod: Mutable<Usage> = zeroUsage();
  const skew: Mutable<Usage> = zeroUsage();
  for (const key of Object.keys(addUsage(total, pods)) as (keyof Usage)[]) {
    const t = total[key] ?? 0n;
    const p = pods[key] ?? 0n;
    if (t >= p) nonPod[key] = t - p;
    else skew[key] = p - t;
  }
  return { nonPod, skew };
}

export function computeTick(input: TickInput): TickResult {
  const podResults: PodTickUsage[] = [];
  const baselines = new Map<string, CounterBaseline>();
  for (const reading of input.pods) {
    const flags: string[] = [];
    const previous = input.previous.pods.get(reading.uid);
    const { usage, baseline } = cgroupUsage(
      previous,
      reading,
      input.intervalNs,
      input.coldStart,
      flags,
    );
    podResults.push({ uid: reading.uid, usage, flags });
    if (!input.gone?.has(reading.uid)) baselines.set(reading.uid, baseline);
  }
  // A pod without a reading this tick keeps its baseline until it is declared gone.
  for (const [uid, baseline] of input.previous.pods) {
    if (!baselines.has(uid) && !input.gone?.has(uid) && !podResults.some((p) => p.uid === uid)) {
      baselines.set(uid, baseline);
    }
  }

  const nodeFlags: string[] = [];
  const node = cgroupUsage(
    input.previous.node,
    { ...input.node, identity: 'node' },
    input.intervalNs,
    input.coldStart || input.previous.node === undefined,
    nodeFlags,
  );
  // Network belongs to per-pod namespaces; the host's interfaces also carry pod traffic, so the
  // node view of network is the pods' sum and nothing is inferred for non-pod traffic.
  const podsUsage = sumUsage(podResults.map((p) => p.usage));
  const nodeMeasured: Usage = {
    ...node.usage,
    netRxBytes: podsUsage.netRxBytes,
    netTxBytes: podsUsage.netTxBytes,
  };
  const { nonPod, skew } = nonNegativeSplit(nodeMeasured, podsUsage);
  return {
    pods: podResults,
    node: { total: addUsage(podsUsage, nonPod), pods: podsUsage, nonPod, skew },
    baselines: { pods: baselines, node: node.baseline },
  };
}
