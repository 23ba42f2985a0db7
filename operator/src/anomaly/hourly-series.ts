// Spend per clock hour of one stream (a namespace, a tag value, a model): the unit the detector
// and the forecaster read. Hours are counted from the Unix epoch, so "the same hour last week"
// is always 168 hours back whatever the time zone; daylight-saving shifts move a local rhythm
// by one hour twice a year, which the neighbouring-hour samples of the baseline absorb.

export const HOUR_MS = 3_600_000;
export const WEEK_HOURS = 168;

export interface HourlySeries {
  /** Epoch hour (floor(ms / HOUR_MS)) of nano[0]. */
  readonly firstHour: number;
  /** Spend in integer nano-units per hour; a missing hour is 0. */
  readonly nano: readonly bigint[];
}

export function hourOf(ms: number): number {
  return Math.floor(ms / HOUR_MS);
}

/** Spend of epoch hour `hour`; 0 outside the series. */
export function spendAt(series: HourlySeries, hour: number): bigint {
  return series.nano[hour - series.firstHour] ?? 0n;
}

/** Whether the series covers epoch hour `hour`. */
export function covers(series: HourlySeries, hour: number): boolean {
  const i = hour - series.firstHour;
  return i >= 0 && i < series.nano.length;
}

/** Spend over the `hours` hours ending with `lastHour` (inclusive); undefined if not all covered. */
export function windowSum(
  series: HourlySeries,
  lastHour: number,
  hours: number,
): bigint | undefined {
  const first = lastHour - hours + 1;
  if (!covers(series, first) || !covers(series, lastHour)) return undefined;
  let sum = 0n;
  for (let h = first; h <= lastHour; h++) sum += spendAt(series, h);
  return sum;
}

/** Builds a series from timestamped amounts; the caller's window sets its bounds. */
export function bucketByHour(
  points: Iterable<{ readonly atMs: number; readonly nano: bigint }>,
  fromHour: number,
  toHour: number,
): HourlySeries {
  const nano = new Array<bigint>(Math.max(toHour - fromHour + 1, 0)).fill(0n);
  for (const p of points) {
    const i = hourOf(p.atMs) - fromHour;
    if (i >= 0 && i < nano.length) nano[i] = (nano[i] as bigint) + p.nano;
  }
  return { firstHour: fromHour, nano };
}
