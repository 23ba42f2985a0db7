// The conserving split of one pod's usage over one tick: concurrency-weighted
// active time, an attributable pool proportional to busy time, integer largest-remainder
// apportionment, and an `unattributed` remainder so shares + unattributed = usage exactly.
import { ReasonError } from '@agentmeter/crds';
import { clipIntervals, unionIntervals } from './activity.ts';
import type { Interval } from './activity.ts';
import type { SessionKeyString } from './session-id.ts';
import { compareKeyStrings } from './session-id.ts';

/** A usage record of non-negative integer units per resource, e.g. crds `Usage`. */
export type UsageVector<U> = { readonly [K in keyof U]?: bigint };

export interface TickWindow {
  /** Inclusive start, ns. */
  readonly t0: bigint;
  /** Exclusive end, ns; must be after t0. */
  readonly t1: bigint;
}

/** Part of the tick during which an annotation gave the whole pod to one session. */
export interface ExclusiveSegment extends Interval {
  readonly key: SessionKeyString;
}

export interface SplitInput<U extends UsageVector<U>> {
  readonly window: TickWindow;
  readonly usage: U;
  /** Intervals of each session's spans; need not be clipped, sorted or disjoint. */
  readonly activity: ReadonlyMap<SessionKeyString, readonly Interval[]>;
  /** Disjoint; spans inside them do not count (the annotation owns that time). */
  readonly exclusive?: readonly ExclusiveSegment[];
}

/** Each session's weight is `numerators.get(s) / denominator` ns of concurrency-shared time. */
export interface SessionWeights {
  readonly numerators: ReadonlyMap<SessionKeyString, bigint>;
  readonly denominator: bigint;
  /** Length of the union of all activity within the window, ns. */
  readonly busyNs: bigint;
}

export interface SplitResult<U> {
  /** Sessions with non-zero weight, in key order. */
  readonly shares: ReadonlyMap<SessionKeyString, U>;
  readonly unattributed: U;
  readonly weights: SessionWeights;
}

export type SplitErrorReason = 'empty-window' | 'negative-usage' | 'overlapping-exclusive';

export class SplitError extends ReasonError<SplitErrorReason> {
  override readonly name = 'SplitError';

  constructor(reason: SplitErrorReason, detail: string) {
    super('split', reason, detail);
  }
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

interface Boundary {
  readonly t: bigint;
  readonly key: SessionKeyString;
  /** +1 start, -1 end; for exclusive segments ±2 so they stay distinguishable. */
  readonly delta: number;
}

/**
 * Processor-sharing weights: every elementary segment where k sessions are active adds len/k
 * to each. Numerators stay integers over a denominator that grows to the lcm of the k seen.
 */
export function sessionWeights(
  window: TickWindow,
  activity: ReadonlyMap<SessionKeyString, readonly Interval[]>,
  exclusive: readonly ExclusiveSegment[] = [],
): SessionWeights {
  const { t0, t1 } = window;
  if (t1 <= t0) throw new SplitError('empty-window', `[${t0}, ${t1})`);
  // Most pods have no session in most ticks: what the general path gives, without its work.
  if (activity.size === 0 && exclusive.length === 0) {
    return { numerators: new Map(), denominator: 1n, busyNs: 0n };
  }
  const events: Boundary[] = [];
  for (const [key, intervals] of activity) {
    for (const i of unionIntervals(clipIntervals(intervals, t0, t1))) {
      events.push({ t: i.start, key, delta: 1 }, { t: i.end, key, delta: -1 });
    }
  }
  const segments = [...exclusive]
    .map((e) => ({ ...clipIntervals([e], t0, t1)[0], key: e.key }))
    .filter((e): e is ExclusiveSegment => e.start !== undefined)
    .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  for (let i = 1; i < segments.length; i++) {
    if ((segments[i] as ExclusiveSegment).start < (segments[i - 1] as ExclusiveSegment).end) {
      throw new SplitError('overlapping-exclusive', 'exclusive segments overlap');
    }
  }
  for (const e of segments)
    events.push({ t: e.start, key: e.key, delta: 2 }, { t: e.end, key: e.key, delta: -2 });
  events.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0));

  const numerators = new Map<SessionKeyString, bigint>();
  const active = new Set<SessionKeyString>();
  let owner: SessionKeyString | null = null;
  let denominator = 1n;
  let busyNs = 0n;
  let prev = t0;
  let e = 0;
  while (e < events.length) {
    const t = (events[e] as Boundary).t;
    const len = t - prev;
    if (len > 0n) {
      const holders = owner !== null ? [owner] : [...active];
      const k = BigInt(holders.length);
      if (k > 0n) {
        busyNs += len;
        if (denominator % k !== 0n) {
          const scale = k / gcd(denominator, k);
          denominator *= scale;
          for (const [key, value] of numerators) numerators.set(key, value * scale);
        }
        const each = len * (denominator / k);
        for (const key of holders) numerators.set(key, (numerators.get(key) ?? 0n) + each);
      }
    }
    // Apply every boundary at t before measuring the next segment, so order within t is moot.
    for (; e < events.length && (events[e] as Boundary).t === t; e++) {
      const ev = events[e] as Boundary;
      if (ev.delta === 1) active.add(ev.key);
      else if (ev.delta === -1) active.delete(ev.key);
      else if (ev.delta === 2) owner = ev.key;
      else if (owner === ev.key) owner = null;
    }
    prev = t;
  }
  // Sessions are disjoint-unioned per key, so an end at t never precedes its own start at t.
  const sorted = new Map([...numerators].sort(([a], [b]) => compareKeyStrings(a, b)));
  return { numerators: sorted, denominator, busyNs };
}

/**
 * Largest-remainder apportionment of `total` units by integer weights. Leftover units go one
 * each to the largest remainders, ties to the smaller key: deterministic, exact, non-negative.
 */
export function apportion(
  total: bigint,
  weights: ReadonlyMap<SessionKeyString, bigint>,
): Map<SessionKeyString, bigint> {
  let sum = 0n;
  for (const w of weights.values()) sum += w;
  const out = new Map<SessionKeyString, bigint>();
  if (sum === 0n) {
    for (const key of weights.keys()) out.set(key, 0n);
    return out;
  }
  const remainders: { key: SessionKeyString; rem: bigint }[] = [];
  let given = 0n;
  for (const [key, w] of weights) {
    const product = total * w;
    const q = product / sum;
    out.set(key, q);
    given += q;
    remainders.push({ key, rem: product % sum });
  }
  remainders.sort((a, b) =>
    a.rem > b.rem ? -1 : a.rem < b.rem ? 1 : compareKeyStrings(a.key, b.key),
  );
  for (let i = 0n; i < total - given; i++) {
    const { key } = remainders[Number(i)] as { key: SessionKeyString };
    out.set(key, (out.get(key) as bigint) + 1n);
  }
  return out;
}

/** Splits one tick of one pod. Pure: same input, same output, whatever the order of spans. */
export function splitTick<U extends UsageVector<U>>(input: SplitInput<U>): SplitResult<U> {
  const { window, usage } = input;
  const weights = sessionWeights(window, input.activity, input.exclusive);
  const tickNs = window.t1 - window.t0;
  const shares = new Map<SessionKeyString, Record<string, bigint>>();
  for (const key of weights.numerators.keys()) shares.set(key, {});
  const unattributed: Record<string, bigint> = {};
  for (const resource of Object.keys(usage) as (keyof U & string)[]) {
    const total = usage[resource];
    if (total === undefined) continue;
    if (total < 0n) throw new SplitError('negative-usage', `${resource} = ${total}`);
    // Idle time of the pod stays unattributed; a fully busy tick gives the whole delta.
    const pool = (total * weights.busyNs) / tickNs;
    let given = 0n;
    if (shares.size > 0) {
      for (const [key, amount] of apportion(pool, weights.numerators)) {
        (shares.get(key) as Record<string, bigint>)[resource] = amount;
        given += amount;
      }
    }
    unattributed[resource] = total - given;
  }
  return {
    shares: shares as unknown as ReadonlyMap<SessionKeyString, U>,
    unattributed: unattributed as U,
    weights,
  };
}
