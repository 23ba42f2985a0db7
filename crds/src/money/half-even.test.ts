import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ArithmeticRangeError } from './errors.ts';
import { divRoundHalfEven, mulDivRoundHalfEven } from './half-even.ts';

/** Reference built on floor division (not on the magnitude as the implementation is). */
function referenceDivRoundHalfEven(n: bigint, d: bigint): bigint {
  const r = ((n % d) + d) % d;
  const q = (n - r) / d;
  if (2n * r < d) return q;
  if (2n * r > d) return q + 1n;
  return q % 2n === 0n ? q : q + 1n;
}

const big = fc.bigInt({ min: -(1n << 100n), max: 1n << 100n });
const small = fc.bigInt({ min: -50n, max: 50n });
const divisor = fc.oneof(fc.bigInt({ min: 1n, max: 10n }), fc.bigInt({ min: 1n, max: 1n << 80n }));

describe('divRoundHalfEven', () => {
  it.each([
    [5n, 2n, 2n], // 2.5 → 2 (even)
    [7n, 2n, 4n], // 3.5 → 4 (even)
    [-5n, 2n, -2n],
    [-7n, 2n, -4n],
    [15n, 10n, 2n], // 1.5 → 2
    [25n, 10n, 2n], // 2.5 → 2
    [26n, 10n, 3n],
    [24n, 10n, 2n],
    [-26n, 10n, -3n],
    [0n, 7n, 0n],
    [1n, 3n, 0n],
    [2n, 3n, 1n],
    [-1n, 3n, 0n],
    [(1n << 64n) * 3n + 1n, 2n, (1n << 64n) + (1n << 63n) + 0n],
  ])('%s / %s → %s', (a, c, q) => {
    expect(divRoundHalfEven(a, c)).toBe(q);
  });

  it('matches the floor-based reference', () => {
    fc.assert(
      fc.property(fc.oneof(big, small), divisor, (a, c) => {
        expect(divRoundHalfEven(a, c)).toBe(referenceDivRoundHalfEven(a, c));
      }),
      { numRuns: 2000 },
    );
  });

  it('rounds ties to even for both even and odd quotients', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(1n << 70n), max: 1n << 70n }),
        fc.bigInt({ min: 1n, max: 1n << 40n }),
        (q, half) => {
          // q + 1/2 exactly: numerator (2q + 1)·half over 2·half.
          const rounded = divRoundHalfEven((2n * q + 1n) * half, 2n * half);
          expect(rounded % 2n).toBe(0n);
          expect(rounded === q || rounded === q + 1n).toBe(true);
        },
      ),
    );
  });

  it('is symmetric about zero', () => {
    fc.assert(
      fc.property(big, divisor, (a, c) => {
        expect(divRoundHalfEven(-a, c)).toBe(-divRoundHalfEven(a, c));
      }),
    );
  });

  it('refuses a divisor that is not positive', () => {
    expect(() => divRoundHalfEven(1n, 0n)).toThrow(ArithmeticRangeError);
    expect(() => divRoundHalfEven(1n, -3n)).toThrow(/divisor must be positive, got -3/);
  });
});

describe('mulDivRoundHalfEven', () => {
  it('is the nearest integer to a·b/c, ties to even (exact rational comparison)', () => {
    fc.assert(
      fc.property(fc.oneof(big, small), fc.oneof(big, small), divisor, (a, b, c) => {
        const q = mulDivRoundHalfEven(a, b, c);
        // |a·b/c − q| ≤ 1/2  ⇔  |2(a·b − q·c)| ≤ c, and on equality q is even.
        const twiceError = 2n * (a * b - q * c);
        const absTwiceError = twiceError < 0n ? -twiceError : twiceError;
        expect(absTwiceError <= c).toBe(true);
        if (absTwiceError === c) expect(q % 2n).toBe(0n);
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps the product exact far beyond 2^64', () => {
    const a = (1n << 64n) + 1n;
    expect(mulDivRoundHalfEven(a, a, a)).toBe(a);
    expect(mulDivRoundHalfEven(1n << 100n, 3n, 2n)).toBe(3n << 99n);
  });

  it('refuses c ≤ 0', () => {
    expect(() => mulDivRoundHalfEven(1n, 1n, 0n)).toThrow(ArithmeticRangeError);
  });
});
