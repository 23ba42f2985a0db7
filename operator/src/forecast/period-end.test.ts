import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HOUR_MS, WEEK_HOURS } from '../anomaly/hourly-series.ts';
import { forecastPeriodEnd, linearForecast } from './period-end.ts';

const UNIT = 1_000_000_000n;
// Epoch hour 0 is a Thursday; weeks here start at hour 0 whatever the weekday, which the
// forecaster does not care about.
const weekdayRhythm = (h: number): bigint => (h % WEEK_HOURS < 5 * 24 ? 10n * UNIT : 2n * UNIT);

function hours(n: number, f: (h: number) => bigint): bigint[] {
  return Array.from({ length: n }, (_, h) => f(h));
}

const sum = (v: readonly bigint[]): bigint => v.reduce((a, b) => a + b, 0n);

describe('forecast to period end', () => {
  // Four weeks of history, then a week-long period starting at hour 4 × 168.
  const start = 4 * WEEK_HOURS;
  const period = { periodStartMs: start * HOUR_MS, periodEndMs: (start + WEEK_HOURS) * HOUR_MS };

  it('projects the weekly rhythm: a quiet weekend ahead lowers the forecast', () => {
    const nano = hours(start + WEEK_HOURS, weekdayRhythm);
    const now = start + 48;
    const input = {
      series: { firstHour: 0, nano },
      spentNano: sum(nano.slice(start, now)),
      ...period,
      nowMs: now * HOUR_MS,
    };
    const actual = sum(nano.slice(start));
    const f = forecastPeriodEnd(input);
    expect(f.method).toBe('seasonal');
    expect(f.pointNano).toBe(actual);
    expect(f.lowNano).toBe(actual);
    expect(f.highNano).toBe(actual);
    // The linear projection assumes every day is a weekday.
    expect(linearForecast(input).pointNano).toBeGreaterThan(actual);
  });

  it('scales the rhythm by the recent level and bounds it by the last week’s days', () => {
    // Spend doubled three days ago; two days of the period remain, so the level is the last three
    // days' (and the rhythm, from earlier weeks, is the old one).
    const now = start + WEEK_HOURS - 48;
    const nano = hours(start + WEEK_HOURS, (h) =>
      h >= now - 72 ? 2n * weekdayRhythm(h) : weekdayRhythm(h),
    );
    const f = forecastPeriodEnd({
      series: { firstHour: 0, nano },
      spentNano: sum(nano.slice(start, now)),
      ...period,
      nowMs: now * HOUR_MS,
    });
    expect(f.method).toBe('seasonal');
    expect(f.pointNano).toBe(sum(nano.slice(start)));
    expect(f.lowNano).toBeLessThan(f.pointNano);
    expect(f.highNano).toBe(f.pointNano);
  });

  it('measures the level over the hours it can compare when history is short', () => {
    // Eight days of history, the last one doubled: only that day has an earlier week to be
    // compared with, so the level is 2 ×, over three days of one unit an hour.
    const nano = hours(8 * 24, (h) => (h >= 7 * 24 ? 2n * UNIT : UNIT));
    const f = forecastPeriodEnd({
      series: { firstHour: 0, nano },
      spentNano: 0n,
      periodStartMs: 8 * 24 * HOUR_MS,
      periodEndMs: 11 * 24 * HOUR_MS,
      nowMs: 8 * 24 * HOUR_MS,
    });
    expect(f).toEqual({
      method: 'seasonal',
      lowNano: 144n * UNIT,
      pointNano: 144n * UNIT,
      highNano: 144n * UNIT,
    });
  });

  it('counts only the rest of the current hour', () => {
    const nano = hours(start + WEEK_HOURS, () => UNIT);
    const nowMs = (start + WEEK_HOURS - 1) * HOUR_MS + HOUR_MS / 4;
    const f = forecastPeriodEnd({
      series: { firstHour: 0, nano },
      spentNano: 100n * UNIT,
      ...period,
      nowMs,
    });
    expect(f.pointNano).toBe(100n * UNIT + (3n * UNIT) / 4n);
  });

  it('falls back to the last day’s rate, then to the linear projection', () => {
    const nano = hours(48, () => UNIT);
    const recent = forecastPeriodEnd({
      series: { firstHour: 0, nano },
      spentNano: 5n * UNIT,
      periodStartMs: 0,
      periodEndMs: 100 * HOUR_MS,
      nowMs: 48 * HOUR_MS,
    });
    expect(recent).toEqual({
      method: 'recent-rate',
      lowNano: 57n * UNIT,
      pointNano: 57n * UNIT,
      highNano: 57n * UNIT,
    });
    const none = forecastPeriodEnd({
      series: { firstHour: 0, nano: [] },
      spentNano: 3n,
      periodStartMs: 0,
      periodEndMs: 4 * HOUR_MS,
      nowMs: 2 * HOUR_MS,
    });
    expect(none).toEqual({ method: 'linear', pointNano: 6n });
  });

  it('returns the spend itself once the period is over', () => {
    const f = forecastPeriodEnd({
      series: { firstHour: 0, nano: [] },
      spentNano: 9n,
      periodStartMs: 0,
      periodEndMs: HOUR_MS,
      nowMs: HOUR_MS,
    });
    expect([f.lowNano, f.pointNano, f.highNano]).toEqual([9n, 9n, 9n]);
  });

  it('keeps spent ≤ low ≤ point ≤ high for any history', () => {
    fc.assert(
      fc.property(
        fc.array(fc.bigInt({ min: 0n, max: 50n * UNIT }), {
          minLength: 2 * WEEK_HOURS,
          maxLength: 2 * WEEK_HOURS,
        }),
        fc.integer({ min: 1, max: WEEK_HOURS * 60 - 1 }),
        (nano, minutes) => {
          const s = WEEK_HOURS;
          const nowMs = s * HOUR_MS + minutes * 60_000;
          const spent = sum(nano.slice(s, Math.floor(nowMs / HOUR_MS)));
          const f = forecastPeriodEnd({
            series: { firstHour: 0, nano },
            spentNano: spent,
            periodStartMs: s * HOUR_MS,
            periodEndMs: 2 * s * HOUR_MS,
            nowMs,
          });
          expect(f.method).not.toBe('linear');
          expect(f.lowNano).toBeGreaterThanOrEqual(spent);
          expect(f.pointNano).toBeGreaterThanOrEqual(f.lowNano ?? -1n);
          expect(f.highNano).toBeGreaterThanOrEqual(f.pointNano);
        },
      ),
      { numRuns: 30 },
    );
  });
});
