// What one ledger entry adds to one policy: pure, no I/O. An entry counts only for the policy
// that priced it (invariant 5: rates are never retroactive), so repricing never happens here.
import {
  BYTES_PER_GIB,
  CPU_NANOSECONDS_PER_CORE_HOUR,
  GPU_MICROSECONDS_PER_GPU_HOUR,
  MEMORY_BYTE_SECONDS_PER_GIB_HOUR,
  parseMoney,
  priceNano,
} from '@agentmeter/crds';
import type { LedgerEntry, Rates } from '@agentmeter/crds';

export const RESOURCES = ['cpu', 'memory', 'gpu', 'io', 'network', 'tokens'] as const;
export type Resource = (typeof RESOURCES)[number];
export type Breakdown = Record<Resource, bigint>;

export interface SessionShare {
  /** "namespace/session-id": sessions are keyed by namespace so tenants cannot collide. */
  readonly key: string;
  readonly nano: bigint;
}

export interface Contribution {
  /** time.end of the entry, unix ms (the ns are truncated; periods start on whole seconds). */
  readonly timeMs: number;
  readonly namespace: string;
  readonly totalNano: bigint;
  readonly sessions: readonly SessionShare[];
  readonly breakdown: Breakdown;
  readonly inputTokens: bigint;
  readonly outputTokens: bigint;
}

export interface PolicyIdentity {
  readonly name: string;
  readonly currency: string;
  /** creationTimestamp in ms: entries priced by an earlier policy of the same name are not ours. */
  readonly createdMs: number;
  readonly rates: Rates;
}

export function zeroBreakdown(): Breakdown {
  return { cpu: 0n, memory: 0n, gpu: 0n, io: 0n, network: 0n, tokens: 0n };
}

function rate(money: string | undefined): bigint {
  return money === undefined ? 0n : parseMoney(money);
}

/**
 * Splits `total` over weights by largest remainder, so the parts sum to `total` exactly. The
 * weights come from the policy's current rates: the ledger records only a pod's total cost, and
 * this split is for the per-resource columns of reports, never for totals.
 */
export function apportion(total: bigint, weights: readonly bigint[]): bigint[] {
  const sum = weights.reduce((a, b) => a + b, 0n);
  if (sum === 0n) return weights.map((_, i) => (i === 0 ? total : 0n));
  const parts = weights.map((w) => (total * w) / sum);
  let rest = total - parts.reduce((a, b) => a + b, 0n);
  const order = weights
    .map((w, i) => ({ i, rem: (total * w) % sum }))
    .sort((a, b) => (a.rem === b.rem ? a.i - b.i : a.rem > b.rem ? -1 : 1));
  for (const { i } of order) {
    if (rest === 0n) break;
    parts[i] = (parts[i] as bigint) + 1n;
    rest -= 1n;
  }
  return parts;
}

function entryTimeMs(endNs: string): number {
  return Number(BigInt(endNs) / 1_000_000n);
}

/** Whether `policy` priced an entry with this cost and end time: its name and currency, and
 * not an earlier policy of the same name. */
export function pricedBy(
  cost: { readonly currency: string; readonly policy: { readonly name: string } } | null,
  endNs: string,
  policy: PolicyIdentity,
): boolean {
  return (
    cost !== null &&
    cost.policy.name === policy.name &&
    cost.currency === policy.currency &&
    entryTimeMs(endNs) >= policy.createdMs - 1000
  );
}

/** The contribution of `entry` to `policy`, or null when the policy did not price it. */
export function contributionOf(entry: LedgerEntry, policy: PolicyIdentity): Contribution | null {
  if (entry.kind !== 'pod-usage' && entry.kind !== 'tokens') return null;
  const cost = entry.cost;
  if (cost === null || !pricedBy(cost, entry.time.end, policy)) return null;
  const timeMs = entryTimeMs(entry.time.end);
  const totalNano = BigInt(cost.totalNano);
  if (entry.kind === 'tokens') {
    let input = 0n;
    let output = 0n;
    for (const m of entry.models) {
      input += BigInt(m.inputTokens);
      output += BigInt(m.outputTokens);
    }
    const session = entry.session;
    return {
      timeMs,
      namespace: session?.namespace ?? entry.pod.namespace,
      totalNano,
      sessions: session ? [{ key: `${session.namespace}/${session.id}`, nano: totalNano }] : [],
      breakdown: { ...zeroBreakdown(), tokens: totalNano },
      inputTokens: input,
      outputTokens: output,
    };
  }
  const u = entry.usage;
  const r = policy.rates;
  const gpuUs = r.gpuHour?.basis === 'Utilization' ? u.gpuActiveUs : u.gpuAllocatedUs;
  const weights = [
    priceNano(BigInt(u.cpuNs), rate(r.cpuCoreHour), CPU_NANOSECONDS_PER_CORE_HOUR),
    priceNano(BigInt(u.memoryByteSeconds), rate(r.memoryGiBHour), MEMORY_BYTE_SECONDS_PER_GIB_HOUR),
    priceNano(BigInt(gpuUs ?? '0'), rate(r.gpuHour?.default), GPU_MICROSECONDS_PER_GPU_HOUR),
    priceNano(BigInt(u.ioReadBytes) + BigInt(u.ioWriteBytes), rate(r.ioGiB), BYTES_PER_GIB),
    priceNano(BigInt(u.netRxBytes) + BigInt(u.netTxBytes), rate(r.networkGiB), BYTES_PER_GIB),
  ];
  const [cpu, memory, gpu, io, network] = apportion(totalNano, weights) as [
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
  ];
  const sessions: SessionShare[] = [];
  for (const s of entry.cost?.bySession ?? []) {
    if (s.session !== null) {
      sessions.push({ key: `${s.session.namespace}/${s.session.id}`, nano: BigInt(s.totalNano) });
    }
  }
  return {
    timeMs,
    namespace: entry.pod.namespace,
    totalNano,
    sessions,
    breakdown: { cpu, memory, gpu, io, network, tokens: 0n },
    inputTokens: 0n,
    outputTokens: 0n,
  };
}
