import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { madSigma, median, medianAbsoluteDeviation, selectInPlace } from './robust-stats.ts';

const sortedCopy = (v: readonly bigint[]): bigint[] =>
  [...v].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

describe('robust statistics', () => {
  it('selects the k-th smallest value, as a sort would', () => {
    fc.assert(
      fc.property(
        fc.array(fc.bigInt({ min: -1000n, max: 1000n }), { minLength: 1, maxLength: 200 }),
        fc.nat(),
        (values, seed) => {
          const k = seed % values.length;
          expect(selectInPlace([...values], k)).toBe(sortedCopy(values)[k]);
        },
      ),
    );
  });

  it('takes the middle value, or the floor of the two middle values’ mean', () => {
    expect(median([])).toBe(0n);
    expect(median([7n])).toBe(7n);
    expect(median([9n, 1n, 5n])).toBe(5n);
    expect(median([1n, 2n, 4n, 100n])).toBe(3n);
    expect(median([1n, 4n])).toBe(2n);
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: 10n ** 15n }), { minLength: 1 }), (values) => {
        const s = sortedCopy(values);
        const n = s.length;
        const expected =
          n % 2 === 1
            ? (s[n >> 1] as bigint)
            : ((s[(n >> 1) - 1] as bigint) + (s[n >> 1] as bigint)) / 2n;
        expect(median(values)).toBe(expected);
      }),
    );
  });

  it('is unmoved by a minority of outliers, unlike a mean', () => {
    const base = [100n, 102n, 98n, 101n, 99n, 100n, 103n];
    expect(median([...base, 10n ** 12n, 10n ** 12n])).toBeLessThanOrEqual(103n);
    expect(medianAbsoluteDeviation([...base, 10n ** 12n], 100n)).toBeLessThanOrEqual(3n);
  });

  it('scales the MAD to a standard deviation in integers', () => {
    expect(madSigma(10_000n)).toBe(14_826n);
    expect(madSigma(0n)).toBe(0n);
  });
});
