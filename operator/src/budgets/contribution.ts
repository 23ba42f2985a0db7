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
import type { CallsEntry, EntryTags, LedgerEntry, Rates, TokensEntry } from '@agentmeter/crds';

/** `tokens` is model calls (and the older per-tick tokens entries); `tools` and `apis` are
 * per-call prices of tool and API calls. */
export const RESOURCES = [
  'cpu',
  'memory',
  'gpu',
  'io',
  'network',
  'tokens',
  'tools',
  'apis',
] as const;
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
  /** The calls entry this came from, for per-call records; null for other kinds. */
  readonly calls: CallsEntry | null;
  /** The allocation tags the agent recorded in the entry; absent when it recorded none. */
  readonly tags?: EntryTags;
}

export interface PolicyIdentity {
  readonly name: string;
  readonly currency: string;
  /** creationTimestamp in ms: entries priced by an earlier policy of the same name are not ours. */
  readonly createdMs: number;
  readonly rates: Rates;
}

export function zeroBreakdown(): Breakdown {
  return { cpu: 0n, memory: 0n, gpu: 0n, io: 0n, network: 0n, tokens: 0n, tools: 0n, apis: 0n };
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
  policy: Pick<PolicyIdentity, 'name' | 'currency' | 'createdMs'>,
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
  if (entry.kind !== 'pod-usage' && entry.kind !== 'tokens' && entry.kind !== 'calls') return null;
  const cost = entry.cost;
  if (cost === null || !pricedBy(cost, entry.time.end, policy)) return null;
  const timeMs = entryTimeMs(entry.time.end);
  if (entry.kind === 'calls') return callsContribution(entry, timeMs);
  const totalNano = BigInt(cost.totalNano);
  if (entry.kind === 'tokens') {
    let input = 0n;
    let output = 0n;
    for (const m of entry.models) {
      input += BigInt(m.inputTokens);
      output += BigInt(m.outputTokens);
    }
    const breakdown = { ...zeroBreakdown(), tokens: totalNano };
    return spanContribution(entry, timeMs, breakdown, input, output, null);
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
    breakdown: { ...zeroBreakdown(), cpu, memory, gpu, io, network },
    inputTokens: 0n,
    outputTokens: 0n,
    calls: null,
    ...(entry.tags === undefined ? {} : { tags: entry.tags }),
  };
}

/**
 * A calls entry counts each priced call once: its cost goes to tokens, tools or apis by the
 * call's kind, and the total is their sum (which the ledger's conservation check holds equal to
 * cost.totalNano), so the budgets, the report columns and the per-call records agree exactly.
 */
function callsContribution(entry: CallsEntry, timeMs: number): Contribution {
  const breakdown = zeroBreakdown();
  let input = 0n;
  let output = 0n;
  for (const call of entry.calls) {
    if (call.costNano !== null) {
      const nano = BigInt(call.costNano);
      if (call.kind === 'tool') breakdown.tools += nano;
      else if (call.kind === 'api') breakdown.apis += nano;
      else breakdown.tokens += nano;
    }
    if (call.tokens !== null) {
      input += BigInt(call.tokens.input);
      output += BigInt(call.tokens.output);
    }
  }
  return spanContribution(entry, timeMs, breakdown, input, output, entry);
}

/** A tokens or calls entry: all of it goes to its session, if it has one, and its namespace. */
function spanContribution(
  entry: TokensEntry | CallsEntry,
  timeMs: number,
  breakdown: Breakdown,
  inputTokens: bigint,
  outputTokens: bigint,
  calls: CallsEntry | null,
): Contribution {
  const totalNano = RESOURCES.reduce((sum, r) => sum + breakdown[r], 0n);
  const session = entry.session;
  return {
    timeMs,
    namespace: session?.namespace ?? entry.pod.namespace,
    totalNano,
    sessions: session ? [{ key: `${session.namespace}/${session.id}`, nano: totalNano }] : [],
    breakdown,
    inputTokens,
    outputTokens,
    calls,
    ...(entry.tags === undefined ? {} : { tags: entry.tags }),
  };
}
