import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { apportion } from './apportion.ts';

describe('apportion', () => {
  it('splits by weight and gives leftovers to the largest remainders, ties by key', () => {
    const r = apportion(
      10n,
      new Map([
        ['b', 1n],
        ['a', 1n],
        ['c', 1n],
      ]),
    );
    expect(Object.fromEntries(r)).toEqual({ a: 4n, b: 3n, c: 3n });
    expect(
      Object.fromEntries(
        apportion(
          100n,
          new Map([
            ['x', 3n],
            ['y', 1n],
          ]),
        ),
      ),
    ).toEqual({ x: 75n, y: 25n });
  });

  it('returns nothing for all-zero weights', () => {
    expect(apportion(5n, new Map([['a', 0n]])).size).toBe(0);
  });

  it('conserves the total exactly', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 15n }),
        fc.array(fc.bigInt({ min: 0n, max: 10n ** 6n }), { minLength: 1, maxLength: 20 }),
        (total, ws) => {
          const weights = new Map(ws.map((w, i) => [`k${i}`, w]));
          const r = apportion(total, weights);
          const sum = [...r.values()].reduce((a, b) => a + b, 0n);
          expect(sum).toBe(ws.some((w) => w > 0n) ? total : 0n);
        },
      ),
    );
  });
});
