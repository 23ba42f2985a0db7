// What the operator does with detector verdicts and guard trips, as plain data: one finding type
// for every dimension, the Events that name them, which findings are new since the last round
// (an anomaly that lasts five hours raises one Event, not five), and the counts the metric
// exports. The metric's labels are the dimension and the window only, never a key: keys are
// namespaces, tag values, models or sessions, and sessions are unbounded (invariant 7).
import { formatMoney } from '@agentmeter/crds';
import type { GuardTrip } from '../guards/evaluate.ts';
import type { SessionVerdict } from './detect-sessions.ts';
import type { StreamVerdict } from './detect-streams.ts';

export const DIMENSIONS = ['namespace', 'tag', 'model', 'session'] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** The stream key of a dimension's value, e.g. "namespace:team-a" or "tag:team=search". */
export function streamKey(dimension: Exclude<Dimension, 'session'>, value: string): string {
  return `${dimension}:${value}`;
}

export interface Finding {
  readonly dimension: Dimension;
  /** The namespace, "name=value" tag, model, or "namespace/session-id". */
  readonly key: string;
  /** Hours of the stream window; 0 for a session judged on its spend so far. */
  readonly windowHours: number;
  readonly observedNano: bigint;
  /** The baseline (streams) or the bar it passed (sessions). */
  readonly expectedNano: bigint;
  /** Standard deviations (streams) or multiples of the peers' quantile (sessions), × 100. */
  readonly scoreHundredths: bigint;
}

export class StreamKeyError extends Error {
  override readonly name = 'StreamKeyError';
}

export function fromStreamVerdict(v: StreamVerdict): Finding {
  const colon = v.stream.indexOf(':');
  const dimension = v.stream.slice(0, colon);
  if (
    colon < 0 ||
    dimension === 'session' ||
    !(DIMENSIONS as readonly string[]).includes(dimension)
  ) {
    throw new StreamKeyError(`stream ${JSON.stringify(v.stream)} names no stream dimension`);
  }
  return {
    dimension: dimension as Dimension,
    key: v.stream.slice(colon + 1),
    windowHours: v.windowHours,
    observedNano: v.observedNano,
    expectedNano: v.expectedNano,
    scoreHundredths: v.scoreHundredths,
  };
}

export function fromSessionVerdict(v: SessionVerdict): Finding {
  return {
    dimension: 'session',
    key: v.key,
    windowHours: 0,
    observedNano: v.observedNano,
    expectedNano: v.thresholdNano,
    scoreHundredths: v.timesQuantileHundredths,
  };
}

export function findingId(f: Finding): string {
  return `${f.dimension}/${f.windowHours}/${f.key}`;
}

/** Findings whose id was not among the previous round's. */
export function newFindings(previous: ReadonlySet<string>, current: readonly Finding[]): Finding[] {
  return current.filter((f) => !previous.has(findingId(f)));
}

/** Active findings per (dimension, window): the gauge's bounded label sets. */
export function findingCounts(findings: readonly Finding[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const f of findings) {
    const k = `${f.dimension}/${f.windowHours}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}

export interface EventText {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly action: string;
  readonly note: string;
}

const hundredths = (v: bigint): string => `${v / 100n}.${String(v % 100n).padStart(2, '0')}`;

export function anomalyEvent(f: Finding, currency: string): EventText {
  const observed = `${formatMoney(f.observedNano)} ${currency}`;
  const expected = `${formatMoney(f.expectedNano)} ${currency}`;
  const note =
    f.dimension === 'session'
      ? `session ${f.key} has spent ${observed}, above its namespace's bar of ${expected} (${hundredths(f.scoreHundredths)} × the 99th percentile of the last day's sessions)`
      : `${f.dimension} ${f.key} spent ${observed} in the last ${f.windowHours} h against ${expected} expected from earlier weeks (${hundredths(f.scoreHundredths)} σ above)`;
  return { type: 'Warning', reason: 'SpendAnomaly', action: 'Notify', note };
}

export function guardEvent(t: GuardTrip, currency: string): EventText {
  const what =
    t.kind === 'spendPerMinute'
      ? `spent ${formatMoney(BigInt(t.observed))} ${currency} in one minute (limit ${formatMoney(BigInt(t.limit))})`
      : t.kind === 'callsPerMinute'
        ? `made ${t.observed} calls in one minute (limit ${t.limit})`
        : `called tool ${t.tool ?? '?'} with the same arguments ${t.observed} times within the guard's window`;
  return {
    type: 'Warning',
    reason: 'GuardTripped',
    action: t.action === 'Suspend' ? 'Suspend' : 'MarkOverBudget',
    note: `guard ${t.guard}: session ${t.session} ${what} at ${new Date(t.atMs).toISOString()}`,
  };
}
