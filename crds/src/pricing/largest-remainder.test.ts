import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ApportionError } from './errors.ts';
import { apportion } from './largest-remainder.ts';
import type { ApportionWeight } from './largest-remainder.ts';

const w = (key: string, numerator: bigint): ApportionWeight => ({ key, numerator });

function reasonOf(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ApportionError);
    return (err as ApportionError).reason;
  }
  return 'accepted';
}

describe('apportion', () => {
  it.each<[string, bigint, Record<string, bigint>, bigint, Record<string, bigint>]>([
    // 10 × (5/10, 3/10, 2/10) exact; 7 × … = 3.5, 2.1, 1.4 → 3+1, 2, 1.
    [
      'gives leftover units to the largest remainders',
      7n,
      { a: 5n, b: 3n, c: 2n },
      10n,
      { a: 4n, b: 2n, c: 1n },
    ],
    [
      'settles equal remainders by the key that sorts first',
      2n,
      { c: 1n, b: 1n, a: 1n },
      3n,
      { c: 0n, b: 1n, a: 1n },
    ],
    ['sorts the empty key first', 1n, { 'ns/x': 1n, '': 1n }, 2n, { 'ns/x': 0n, '': 1n }],
    ['gives zero to a zero weight', 5n, { a: 0n, b: 9n }, 9n, { a: 0n, b: 5n }],
    ['apportions nothing over no weights', 0n, {}, 0n, {}],
    ['gives a sole zero weight zero', 0n, { a: 0n }, 0n, { a: 0n }],
  ])('%s', (_name, total, weights, whole, shares) => {
    const given = Object.entries(weights).map(([key, numerator]) => w(key, numerator));
    expect(Object.fromEntries(apportion(total, given, whole))).toEqual(shares);
  });

  it.each<[string, () => unknown, string]>([
    ['a negative total', () => apportion(-1n, [w('a', 1n)], 1n), 'negative-total'],
    ['a negative weight', () => apportion(1n, [w('a', -1n), w('b', 2n)], 1n), 'negative-weight'],
    ['a repeated key', () => apportion(1n, [w('a', 1n), w('a', 1n)], 2n), 'duplicate-key'],
    ['weights that are not the whole', () => apportion(1n, [w('a', 1n)], 2n), 'weights-not-whole'],
    ['units but no weight', () => apportion(1n, [w('a', 0n)], 0n), 'zero-weights'],
  ])('refuses %s', (_name, run, reason) => {
    expect(reasonOf(run)).toBe(reason);
  });

  it('is exact, non-negative, within one unit of each quota and order-independent', () => {
    const weights = fc
      .uniqueArray(fc.tuple(fc.string({ maxLength: 4 }), fc.bigInt({ min: 0n, max: 1n << 80n })), {
        selector: ([key]) => key,
        minLength: 1,
        maxLength: 12,
      })
      .filter((ws) => ws.some(([, n]) => n > 0n));
    fc.assert(
      fc.property(weights, fc.bigInt({ min: 0n, max: 1n << 70n }), (pairs, total) => {
        const list = pairs.map(([key, n]) => w(key, n));
        const denominator = list.reduce((acc, x) => acc + x.numerator, 0n);
        const out = apportion(total, list, denominator);
        expect([...out.values()].reduce((a, b) => a + b, 0n)).toBe(total);
        for (const { key, numerator } of list) {
          const got = out.get(key) as bigint;
          const exact = total * numerator; // quota × denominator
          expect(got >= 0n).toBe(true);
          expect(got * denominator > exact - denominator).toBe(true);
          expect(got * denominator < exact + denominator).toBe(true);
        }
        expect(apportion(total, [...list].reverse(), denominator)).toEqual(out);
      }),
    );
  });
});
