// Spend forecast to the end of a budget period from the recent burn rate and the weekly rhythm,
// with a low and a high bound. The projection from the start of the period (spend × length /
// elapsed) lets one early spike inflate the forecast for the rest of a month and misses a rise
// that began yesterday; this one projects each remaining hour from the same hour in earlier weeks
// (the rhythm), scaled by how the recent past ran against those weeks (the level). The bounds
// scale by the lowest and the highest of the last seven days' levels. Integer arithmetic
// throughout: levels are ratios of nano-unit sums, applied with one half-even division.
// test/bench/anomaly-replay.ts measures its error against the linear projection.
import { mulDivRoundHalfEven } from '@agentmeter/crds';
import {
  HOUR_MS,
  WEEK_HOURS,
  covers,
  hourOf,
  spendAt,
  windowSum,
} from '../anomaly/hourly-series.ts';
import type { HourlySeries } from '../anomaly/hourly-series.ts';
import { median } from '../anomaly/robust-stats.ts';

export interface ForecastInput {
  /** Hourly spend of the scope key; hours before `nowMs` are read, later ones ignored. */
  readonly series: HourlySeries;
  /** Spend in the period up to `nowMs`. */
  readonly spentNano: bigint;
  readonly periodStartMs: number;
  readonly periodEndMs: number;
  readonly nowMs: number;
}

export type ForecastMethod = 'seasonal' | 'recent-rate' | 'linear';

export interface Forecast {
  readonly method: ForecastMethod;
  readonly pointNano: bigint;
  /** Absent for the linear projection, which has no history to bound it with. */
  readonly lowNano?: bigint;
  readonly highNano?: bigint;
}

/** Earlier weeks whose median is the rhythm. */
const RHYTHM_WEEKS = 4;
/**
 * The level is measured over as many hours as remain, within three days and two weeks: a short
 * horizon follows the latest change, a long one averages more noise away (the replay measured
 * 72, 168 and 336 hours for weekly and monthly periods).
 */
const MIN_LEVEL_HOURS = 72;
const MAX_LEVEL_HOURS = 336;
/** Days the bounds' levels are taken from. */
const BOUND_DAYS = 7;
/** Hours of history the recent-rate fallback needs, and the blocks its bounds come from. */
const RECENT_HOURS = 24;
const RECENT_BLOCK_HOURS = 6;

/** A ratio of two non-negative integers; den > 0. */
interface Level {
  readonly num: bigint;
  readonly den: bigint;
}

function less(a: Level, b: Level): boolean {
  return a.num * b.den < b.num * a.den;
}

/** Expected spend of `hour` from the same hour in earlier weeks that lie before `nowHour`. */
function rhythmAt(series: HourlySeries, hour: number, nowHour: number): bigint | undefined {
  const samples: bigint[] = [];
  for (let w = 1; samples.length < RHYTHM_WEEKS; w++) {
    const past = hour - w * WEEK_HOURS;
    if (past < series.firstHour) break;
    if (past < nowHour && covers(series, past)) samples.push(spendAt(series, past));
  }
  return samples.length === 0 ? undefined : median(samples);
}

/** Σ rhythm over hours [first, last]; undefined if any hour has no earlier week. */
function rhythmSum(
  series: HourlySeries,
  first: number,
  last: number,
  nowHour: number,
): bigint | undefined {
  let sum = 0n;
  for (let h = first; h <= last; h++) {
    const r = rhythmAt(series, h, nowHour);
    if (r === undefined) return undefined;
    sum += r;
  }
  return sum;
}

function bounded(spent: bigint, rest: bigint, low: Level, point: Level, high: Level): Forecast {
  const apply = (l: Level): bigint => spent + mulDivRoundHalfEven(rest, l.num, l.den);
  return {
    method: 'seasonal',
    lowNano: apply(low),
    pointNano: apply(point),
    highNano: apply(high),
  };
}

function seasonal(input: ForecastInput, nowHour: number): Forecast | undefined {
  const { series, spentNano, periodEndMs, nowMs } = input;
  const lastComplete = nowHour - 1;
  const endHour = hourOf(periodEndMs - 1);
  // Only hours with an earlier week in the series can be compared with the rhythm.
  const comparable = lastComplete - WEEK_HOURS - series.firstHour + 1;
  const wanted = Math.min(Math.max(endHour - nowHour, MIN_LEVEL_HOURS), MAX_LEVEL_HOURS);
  const levelHours = Math.min(wanted, comparable);
  if (levelHours < 24) return undefined;
  const actual = windowSum(series, lastComplete, levelHours);
  const expected = rhythmSum(series, lastComplete - levelHours + 1, lastComplete, nowHour);
  if (actual === undefined || expected === undefined || expected === 0n) return undefined;
  // The rest of the current hour counts by the share of it still to come.
  const current = rhythmAt(series, nowHour, nowHour) ?? 0n;
  const nowHourEnd = (nowHour + 1) * HOUR_MS;
  const currentRest = mulDivRoundHalfEven(
    current,
    BigInt(Math.min(nowHourEnd, periodEndMs) - nowMs),
    BigInt(HOUR_MS),
  );
  const later = endHour > nowHour ? rhythmSum(series, nowHour + 1, endHour, nowHour) : 0n;
  if (later === undefined) return undefined;
  const rest = currentRest + later;
  const point: Level = { num: actual, den: expected };
  let low = point;
  let high = point;
  for (let d = 0; d < BOUND_DAYS; d++) {
    const last = lastComplete - d * 24;
    const a = windowSum(series, last, 24);
    const e = rhythmSum(series, last - 23, last, nowHour);
    if (a === undefined || e === undefined || e === 0n) break;
    const level: Level = { num: a, den: e };
    if (less(level, low)) low = level;
    if (less(high, level)) high = level;
  }
  return bounded(spentNano, rest, low, point, high);
}

function recentRate(input: ForecastInput, nowHour: number): Forecast | undefined {
  const { series, spentNano, periodEndMs, nowMs } = input;
  const lastComplete = nowHour - 1;
  const total = windowSum(series, lastComplete, RECENT_HOURS);
  if (total === undefined) return undefined;
  // Rates in nano-units per hour, applied to the remaining milliseconds.
  const rest = BigInt(Math.max(periodEndMs - nowMs, 0));
  const hour = BigInt(HOUR_MS);
  const point: Level = { num: total * rest, den: BigInt(RECENT_HOURS) * hour };
  let low = point;
  let high = point;
  for (let b = 0; b < RECENT_HOURS / RECENT_BLOCK_HOURS; b++) {
    const block = windowSum(series, lastComplete - b * RECENT_BLOCK_HOURS, RECENT_BLOCK_HOURS);
    const level: Level = { num: (block ?? 0n) * rest, den: BigInt(RECENT_BLOCK_HOURS) * hour };
    if (less(level, low)) low = level;
    if (less(high, level)) high = level;
  }
  const apply = (l: Level): bigint => spentNano + mulDivRoundHalfEven(1n, l.num, l.den);
  return {
    method: 'recent-rate',
    lowNano: apply(low),
    pointNano: apply(point),
    highNano: apply(high),
  };
}

/** The linear projection from the period start, for a key with no usable history. */
export function linearForecast(input: ForecastInput): Forecast {
  const { spentNano, periodStartMs, periodEndMs, nowMs } = input;
  const length = BigInt(periodEndMs - periodStartMs);
  const elapsed = BigInt(Math.min(Math.max(nowMs - periodStartMs, 0), periodEndMs - periodStartMs));
  const point = elapsed === 0n ? spentNano : mulDivRoundHalfEven(spentNano, length, elapsed);
  return { method: 'linear', pointNano: point };
}

/**
 * The forecast of the period's final spend: seasonal with eight days of history (a week to take
 * the rhythm from and a day to measure the level against it), the last day's rate with a day of
 * it, else the linear projection from the period start.
 */
export function forecastPeriodEnd(input: ForecastInput): Forecast {
  if (input.nowMs >= input.periodEndMs) {
    const s = input.spentNano;
    return { method: 'linear', lowNano: s, pointNano: s, highNano: s };
  }
  if (input.series.nano.length === 0) return linearForecast(input);
  const nowHour = hourOf(input.nowMs);
  return seasonal(input, nowHour) ?? recentRate(input, nowHour) ?? linearForecast(input);
}
