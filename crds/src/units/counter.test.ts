import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ArithmeticRangeError } from '../money/errors.ts';
import { formatCounter, parseCounter, U64_MAX } from './counter.ts';
import { CounterParseError } from './errors.ts';
import type { CounterParseReason } from './errors.ts';

function reasonOf(input: string, max?: bigint): CounterParseReason | 'accepted' {
  try {
    parseCounter(input, max === undefined ? {} : { max });
    return 'accepted';
  } catch (err) {
    expect(err).toBeInstanceOf(CounterParseError);
    expect((err as CounterParseError).input).toBe(input);
    return (err as CounterParseError).reason;
  }
}

describe('parseCounter', () => {
  it.each([
    ['0', 0n],
    ['1', 1n],
    ['9007199254740993', 9_007_199_254_740_993n], // 2^53 + 1: a JS number would lose it
    ['18446744073709551615', U64_MAX],
  ])('parses %s', (input, value) => {
    expect(parseCounter(input)).toBe(value);
  });

  it.each<[string, CounterParseReason]>([
    ['', 'empty'],
    ['18446744073709551616', 'out-of-range'],
    ['100000000000000000000', 'out-of-range'],
    ['9'.repeat(10_000), 'out-of-range'],
    ['-1', 'not-a-decimal-integer'],
    ['+1', 'not-a-decimal-integer'],
    ['1.0', 'not-a-decimal-integer'],
    ['1e9', 'not-a-decimal-integer'],
    [' 1', 'not-a-decimal-integer'],
    ['1\n', 'not-a-decimal-integer'],
    ['0x1f', 'not-a-decimal-integer'],
    ['١٢', 'not-a-decimal-integer'],
    ['01', 'leading-zero'],
    ['00', 'leading-zero'],
  ])('refuses %j as %s', (input, reason) => {
    expect(reasonOf(input)).toBe(reason);
  });

  it('accepts values beyond 2^64 when the caller raises max', () => {
    const max = 10n ** 30n;
    expect(parseCounter('18446744073709551616', { max })).toBe(1n << 64n);
    expect(reasonOf('1000000000000000000000000000001', max)).toBe('out-of-range');
  });

  it('format ∘ parse and parse ∘ format are identities', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: U64_MAX }), (n) => {
        const text = formatCounter(n);
        expect(text).toMatch(/^(0|[1-9][0-9]*)$/);
        expect(parseCounter(text)).toBe(n);
      }),
    );
  });

  it('accepts exactly the canonical unsigned integers up to max', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(...'0123456789-+. e'), maxLength: 22 }),
        (s) => {
          const canonical = /^(0|[1-9][0-9]*)$/.test(s) && BigInt(s) <= U64_MAX;
          expect(reasonOf(s) === 'accepted').toBe(canonical);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('formatCounter refuses negatives', () => {
    expect(() => formatCounter(-1n)).toThrow(ArithmeticRangeError);
  });
});
