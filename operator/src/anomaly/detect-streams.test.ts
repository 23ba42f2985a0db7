import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_STREAM_DETECTOR, detectStreams, judgeWindow } from './detect-streams.ts';
import { WEEK_HOURS } from './hourly-series.ts';
import type { HourlySeries } from './hourly-series.ts';

const UNIT = 1_000_000_000n;

/** Five weeks of a rhythm: 10 units an hour by day (8-18h), 1 by night, with a little jitter. */
function rhythmic(weeks = 5): bigint[] {
  return Array.from({ length: weeks * WEEK_HOURS }, (_, h) => {
    const day = h % 24 >= 8 && h % 24 < 18;
    return (day ? 10n * UNIT : UNIT) + BigInt((h * 7919) % 13) * (UNIT / 100n);
  });
}

function series(nano: bigint[]): HourlySeries {
  return { firstHour: 0, nano };
}

const lastHour = 5 * WEEK_HOURS - 1;

describe('stream detector', () => {
  it('stays quiet on a stream that repeats its rhythm', () => {
    expect(detectStreams(new Map([['ns:a', series(rhythmic())]]), lastHour)).toEqual([]);
  });

  it('judges a busy hour against busy hours of earlier weeks, not against the night', () => {
    const nano = rhythmic();
    // The last hour is 2 units; a quiet night hour in earlier weeks was 1, so 2 units is
    // double the usual night, while a day hour at 10 units is normal.
    const night = judgeWindow('ns:a', series(nano), lastHour, 1, DEFAULT_STREAM_DETECTOR);
    expect(night?.expectedNano).toBeLessThan(2n * UNIT);
    const noon = lastHour - 11;
    const day = judgeWindow('ns:a', series(nano), noon, 1, DEFAULT_STREAM_DETECTOR);
    expect(day?.anomalous).toBe(false);
    expect(day?.expectedNano).toBeGreaterThan(9n * UNIT);
  });

  it('flags a spike in the hour window and a sustained rise in the day window', () => {
    const spike = rhythmic();
    spike[lastHour] = (spike[lastHour] as bigint) + 20n * UNIT;
    const found = detectStreams(new Map([['ns:a', series(spike)]]), lastHour);
    expect(found.map((v) => [v.stream, v.windowHours])).toContainEqual(['ns:a', 1]);

    const ramp = rhythmic().map((v, h) => (h > lastHour - 24 ? (v * 17n) / 10n : v));
    const day = detectStreams(new Map([['ns:b', series(ramp)]]), lastHour).find(
      (v) => v.windowHours === 24,
    );
    expect(day?.anomalous).toBe(true);
    expect(day?.scoreHundredths).toBeGreaterThan(600n);
  });

  it('drops an excess below the minimum cost however many deviations it is', () => {
    const nano = rhythmic();
    nano[lastHour] = (nano[lastHour] as bigint) + UNIT;
    const v = judgeWindow('ns:a', series(nano), lastHour, 1, DEFAULT_STREAM_DETECTOR);
    expect(v?.scoreHundredths).toBeGreaterThan(600n);
    expect(v?.anomalous).toBe(false);
  });

  it('is not blinded by a spike in an earlier week', () => {
    const nano = rhythmic();
    nano[lastHour - WEEK_HOURS] = 500n * UNIT;
    nano[lastHour] = (nano[lastHour] as bigint) + 20n * UNIT;
    expect(judgeWindow('ns:a', series(nano), lastHour, 1, DEFAULT_STREAM_DETECTOR)?.anomalous).toBe(
      true,
    );
  });

  it('gives no verdict on a stream younger than its baseline needs', () => {
    const young = series(rhythmic(1));
    expect(judgeWindow('ns:a', young, WEEK_HOURS - 1, 1, DEFAULT_STREAM_DETECTOR)).toBeUndefined();
  });

  it('never flags a window that spent no more than its baseline', () => {
    fc.assert(
      fc.property(
        fc.array(fc.bigInt({ min: 0n, max: 100n * UNIT }), {
          minLength: 2 * WEEK_HOURS,
          maxLength: 2 * WEEK_HOURS,
        }),
        (nano) => {
          const v = judgeWindow('s', series(nano), 2 * WEEK_HOURS - 1, 1, {
            ...DEFAULT_STREAM_DETECTOR,
            weeks: 1,
            minSamples: 3,
          });
          if (v === undefined) return;
          if (v.observedNano <= v.expectedNano) expect(v.anomalous).toBe(false);
          expect(v.sigmaNano).toBeGreaterThan(0n);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('orders findings by score', () => {
    const a = rhythmic();
    a[lastHour] = (a[lastHour] as bigint) + 20n * UNIT;
    const b = rhythmic();
    b[lastHour] = (b[lastHour] as bigint) + 60n * UNIT;
    const found = detectStreams(
      new Map([
        ['ns:a', series(a)],
        ['ns:b', series(b)],
      ]),
      lastHour,
      { ...DEFAULT_STREAM_DETECTOR, windows: [1] },
    );
    expect(found.map((v) => v.stream)).toEqual(['ns:b', 'ns:a']);
  });
});
