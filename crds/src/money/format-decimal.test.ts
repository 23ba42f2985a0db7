import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatMoney } from './format-decimal.ts';
import { parseMoney } from './parse-decimal.ts';
import { nanoAmount, validDecimal } from './test-arbitraries.ts';

describe('formatMoney', () => {
  it.each([
    [0n, '0'],
    [1n, '0.000000001'],
    [21n, '0.000000021'],
    [1_000_000_000n, '1'],
    [1_500_000_000n, '1.5'],
    [-1_500_000_000n, '-1.5'],
    [-1n, '-0.000000001'],
    [1n << 70n, '1180591620717.411303424'],
  ])('formats %s as %s', (nano, text) => {
    expect(formatMoney(nano)).toBe(text);
  });

  it('pads to minFractionDigits without dropping digits', () => {
    expect(formatMoney(1_500_000_000n, { minFractionDigits: 2 })).toBe('1.50');
    expect(formatMoney(21n, { minFractionDigits: 2 })).toBe('0.000000021');
    expect(formatMoney(0n, { minFractionDigits: 9 })).toBe('0.000000000');
    expect(formatMoney(-7n * 10n ** 9n, { minFractionDigits: 3 })).toBe('-7.000');
    expect(() => formatMoney(1n, { minFractionDigits: 10 })).toThrow(RangeError);
    expect(() => formatMoney(1n, { minFractionDigits: -1 })).toThrow(RangeError);
  });

  it('parse ∘ format is the identity on nano amounts, at any padding', () => {
    fc.assert(
      fc.property(nanoAmount, fc.integer({ min: 0, max: 9 }), (nano, minFractionDigits) => {
        expect(parseMoney(formatMoney(nano))).toBe(nano);
        expect(parseMoney(formatMoney(nano, { minFractionDigits }))).toBe(nano);
      }),
    );
  });

  it('format ∘ parse gives the canonical form: no trailing fraction zeros, no bare "."', () => {
    fc.assert(
      fc.property(validDecimal, (s) => {
        const canonical = formatMoney(parseMoney(s));
        expect(canonical).not.toMatch(/\.$|\.[0-9]*0$/);
        const trimmed = s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
        expect(canonical).toBe(trimmed);
        expect(formatMoney(parseMoney(canonical))).toBe(canonical);
      }),
    );
  });

  it('formats a negative amount as "-" and the magnitude', () => {
    fc.assert(
      fc.property(
        nanoAmount.filter((n) => n > 0n),
        (nano) => {
          expect(formatMoney(-nano)).toBe(`-${formatMoney(nano)}`);
        },
      ),
    );
  });
});
