import { describe, expect, it } from 'vitest';
import { HOUR_MS, bucketByHour, covers, hourOf, spendAt, windowSum } from './hourly-series.ts';

describe('hourly series', () => {
  const series = { firstHour: 100, nano: [1n, 2n, 3n, 4n] };

  it('reads hours inside the series and 0 outside', () => {
    expect(spendAt(series, 101)).toBe(2n);
    expect(spendAt(series, 99)).toBe(0n);
    expect(covers(series, 103)).toBe(true);
    expect(covers(series, 104)).toBe(false);
  });

  it('sums a window only when the series covers all of it', () => {
    expect(windowSum(series, 103, 3)).toBe(9n);
    expect(windowSum(series, 100, 1)).toBe(1n);
    expect(windowSum(series, 101, 3)).toBeUndefined();
    expect(windowSum(series, 104, 1)).toBeUndefined();
  });

  it('buckets timestamped amounts by clock hour and drops those outside', () => {
    const at = (h: number, minute: number): number => h * HOUR_MS + minute * 60_000;
    const s = bucketByHour(
      [
        { atMs: at(10, 5), nano: 5n },
        { atMs: at(10, 59), nano: 1n },
        { atMs: at(12, 0), nano: 7n },
        { atMs: at(13, 0), nano: 100n },
        { atMs: at(9, 59), nano: 100n },
      ],
      10,
      12,
    );
    expect(s).toEqual({ firstHour: 10, nano: [6n, 0n, 7n] });
    expect(hourOf(at(10, 59))).toBe(10);
  });
});
