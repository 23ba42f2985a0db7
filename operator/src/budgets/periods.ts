// Budget periods in the budget's IANA time zone. luxon does the calendar arithmetic, so a day
// is 23 or 25 hours across a daylight-saving change and weeks are ISO weeks (Monday first).
import { DateTime } from 'luxon';
import type { BudgetPeriod } from '@agentmeter/crds';

/** [start, end) of one period, unix milliseconds. */
export interface Period {
  readonly start: number;
  readonly end: number;
}

export class PeriodError extends Error {
  override readonly name = 'PeriodError';
}

const UNIT = { Daily: 'day', Weekly: 'week', Monthly: 'month' } as const;
const STEP = { Daily: { days: 1 }, Weekly: { weeks: 1 }, Monthly: { months: 1 } } as const;

/** The period of `period` kind in `timeZone` that contains the instant `atMs`. */
export function periodAt(atMs: number, period: BudgetPeriod, timeZone = 'UTC'): Period {
  const local = DateTime.fromMillis(atMs, { zone: timeZone });
  if (!local.isValid) {
    throw new PeriodError(
      `time zone ${JSON.stringify(timeZone)}: ${local.invalidExplanation ?? 'invalid'}`,
    );
  }
  // luxon's 'week' is the ISO week unless locale weeks are asked for.
  const start = local.startOf(UNIT[period]);
  const end = start.plus(STEP[period]);
  return { start: start.toMillis(), end: end.toMillis() };
}

/** The key of a budget's period spec; budgets with equal keys share period boundaries. */
export function periodSpecKey(period: BudgetPeriod, timeZone = 'UTC'): string {
  return `${period}/${timeZone}`;
}

/** yyyymmdd of the period start in its own time zone, for CostReport names. */
export function periodStamp(startMs: number, timeZone = 'UTC'): string {
  return DateTime.fromMillis(startMs, { zone: timeZone }).toFormat('yyyyLLdd');
}

/** RFC 3339 with whole seconds, as metav1.Time serialises. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}
