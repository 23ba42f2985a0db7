import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DECIMAL_PATTERN_SOURCE, MAX_DECIMAL_LENGTH, NANO_PER_UNIT } from './decimal-syntax.ts';
import { MoneyParseError } from './errors.ts';
import type { MoneyParseReason } from './errors.ts';
import { parseMoney } from './parse-decimal.ts';
import { fractionPart, integerPart, validDecimal } from './test-arbitraries.ts';

function reasonOf(input: string): MoneyParseReason | 'accepted' {
  try {
    parseMoney(input);
    return 'accepted';
  } catch (err) {
    expect(err).toBeInstanceOf(MoneyParseError);
    expect((err as MoneyParseError).input).toBe(input);
    return (err as MoneyParseError).reason;
  }
}

describe('parseMoney', () => {
  it.each([
    ['0', 0n],
    ['0.0', 0n],
    ['0.000000001', 1n],
    ['0.000000021', 21n],
    ['1', NANO_PER_UNIT],
    ['1.5', 1_500_000_000n],
    ['12.340000000', 12_340_000_000n],
    ['999999999999999999.999999999', 10n ** 27n - 1n],
    // Beyond 2^64 nano-units.
    ['18446744073.709551616', 1n << 64n],
  ])('parses %s exactly', (input, nano) => {
    expect(parseMoney(input)).toBe(nano);
  });

  it.each<[string, MoneyParseReason]>([
    ['', 'empty'],
    [' 1', 'whitespace'],
    ['1 ', 'whitespace'],
    ['1\n', 'whitespace'],
    ['1\u00a0000', 'whitespace'],
    ['-1', 'sign'],
    ['+1', 'sign'],
    ['-0', 'sign'],
    ['1e3', 'exponent'],
    ['1E-9', 'exponent'],
    ['01', 'leading-zero'],
    ['00.5', 'leading-zero'],
    ['0.0000000001', 'too-many-fraction-digits'],
    ['1.1234567891', 'too-many-fraction-digits'],
    ['1000000000000000000', 'too-many-integer-digits'],
    ['1'.repeat(MAX_DECIMAL_LENGTH + 1), 'too-long'],
    ['.5', 'malformed'],
    ['5.', 'malformed'],
    ['1.2.3', 'malformed'],
    ['1,5', 'malformed'],
    ['0x10', 'malformed'],
    ['Infinity', 'malformed'],
    ['NaN', 'malformed'],
    ['١', 'malformed'],
    ['１', 'malformed'],
    ['1_000', 'malformed'],
  ])('refuses %j as %s', (input, reason) => {
    expect(reasonOf(input)).toBe(reason);
  });

  it('carries the input and reason on the typed error', () => {
    const err = (() => {
      try {
        parseMoney('1.0000000001');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(MoneyParseError);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({
      name: 'MoneyParseError',
      input: '1.0000000001',
      reason: 'too-many-fraction-digits',
    });
  });

  it('agrees with an independent digit-by-digit conversion', () => {
    fc.assert(
      fc.property(validDecimal, (s) => {
        const [i = '', f = ''] = s.split('.');
        let expected = 0n;
        for (const ch of i + f.padEnd(9, '0'))
          expected = expected * 10n + BigInt(ch.charCodeAt(0) - 48);
        expect(parseMoney(s)).toBe(expected);
      }),
    );
  });

  it('accepts exactly the strings the CRD pattern accepts', () => {
    const pattern = new RegExp(DECIMAL_PATTERN_SOURCE);
    const noisy = fc
      .array(fc.constantFrom(...'0123456789.+-eE _,'), { maxLength: MAX_DECIMAL_LENGTH + 3 })
      .map((cs) => cs.join(''));
    fc.assert(
      fc.property(
        fc.oneof(validDecimal, noisy, fc.string(), fc.string({ unit: 'grapheme' })),
        (s) => {
          expect(reasonOf(s) === 'accepted').toBe(pattern.test(s));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('refuses generated malformed strings with the right reason', () => {
    // Room for the two characters a mutation adds, so 'too-long' never masks the reason under test.
    const shortDecimal = validDecimal.filter((s) => s.length + 2 <= MAX_DECIMAL_LENGTH);
    const malformed = fc.oneof(
      fc
        .tuple(fc.constantFrom('+', '-'), shortDecimal)
        .map(([sign, s]): [string, MoneyParseReason] => [sign + s, 'sign']),
      fc
        .tuple(integerPart, fc.constantFrom('e', 'E', 'e-', 'E+'), fc.integer({ min: 0, max: 9 }))
        .map(([i, e, n]): [string, MoneyParseReason] => [`${i}${e}${n}`, 'exponent']),
      fc
        .tuple(shortDecimal, fc.constantFrom(' ', '\t', '\n', '\r', '\u2003'), fc.nat())
        .map(([s, ws, at]): [string, MoneyParseReason] => {
          const k = at % (s.length + 1);
          return [s.slice(0, k) + ws + s.slice(k), 'whitespace'];
        }),
      fc
        .tuple(fc.integer({ min: 1, max: 3 }), validDecimal)
        .filter(([, s]) => s.length + 3 <= MAX_DECIMAL_LENGTH)
        .map(([n, s]): [string, MoneyParseReason] => ['0'.repeat(n) + s, 'leading-zero']),
      fc
        .tuple(
          integerPart,
          fractionPart,
          fc.array(fc.constantFrom(...'0123456789'), { minLength: 1, maxLength: 5 }),
        )
        .filter(([i]) => i.length + 16 <= MAX_DECIMAL_LENGTH)
        .map(([i, f, extra]): [string, MoneyParseReason] => [
          `${i}.${f.padEnd(9, '0')}${extra.join('')}`,
          'too-many-fraction-digits',
        ]),
      fc
        .tuple(shortDecimal, fc.constantFrom('.', '..', ',', '_'))
        .map(([s, junk]): [string, MoneyParseReason] => [s + junk, 'malformed']),
    );
    fc.assert(
      fc.property(malformed, ([input, reason]) => {
        expect(reasonOf(input)).toBe(reason);
      }),
    );
  });
});
