import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CURRENCIES, CURRENCY_CODES } from './currencies.ts';
import { formatMoneyForDisplay, roundToMinorUnits } from './display.ts';
import { UnknownCurrencyError } from './errors.ts';
import { parseMoney } from './parse-decimal.ts';
import { nanoAmount } from './test-arbitraries.ts';

/**
 * Reference that rounds on the decimal digits themselves: keep the first digits, then compare
 * the dropped ones with "5000…" to decide, bumping the kept digits on ties only when they are odd.
 */
function referenceDisplay(nano: bigint, minorUnits: number): string {
  const negative = nano < 0n;
  const digits = (negative ? -nano : nano).toString().padStart(10, '0');
  const keepLength = digits.length - 9 + minorUnits;
  const kept = digits.slice(0, keepLength);
  const dropped = digits.slice(keepLength);
  const half = '5'.padEnd(dropped.length, '0');
  const lastKeptOdd = '13579'.includes(kept.at(-1) ?? '0');
  const roundUp = dropped.length > 0 && (dropped > half || (dropped === half && lastKeptOdd));
  const magnitude = (BigInt(kept) + (roundUp ? 1n : 0n)).toString().padStart(minorUnits + 1, '0');
  const integer = magnitude.slice(0, magnitude.length - minorUnits);
  const fraction = magnitude.slice(magnitude.length - minorUnits);
  const sign = negative && /[1-9]/.test(magnitude) ? '-' : '';
  return minorUnits === 0 ? `${sign}${integer}` : `${sign}${integer}.${fraction}`;
}

describe('formatMoneyForDisplay', () => {
  it.each([
    ['1.005', 'USD', '1.00'], // tie, 0 is even → stays
    ['1.015', 'USD', '1.02'], // tie, 1 is odd → up
    ['1.025', 'USD', '1.02'],
    ['1.0250001', 'USD', '1.03'],
    ['0.000000001', 'USD', '0.00'],
    ['0', 'USD', '0.00'],
    ['1234567.894999999', 'EUR', '1234567.89'],
    ['0.5', 'JPY', '0'], // tie → even 0
    ['1.5', 'JPY', '2'], // tie → even 2
    ['2.5', 'JPY', '2'],
    ['2.500000001', 'JPY', '3'],
    ['1.0005', 'BHD', '1.000'],
    ['1.0015', 'BHD', '1.002'],
    ['0.1', 'KWD', '0.100'],
    ['999999999999999999.999999999', 'USD', '1000000000000000000.00'],
  ])('%s %s → %s', (amount, currency, shown) => {
    expect(formatMoneyForDisplay(parseMoney(amount), currency)).toBe(shown);
  });

  it('formats negative adjustments, without a negative zero', () => {
    expect(formatMoneyForDisplay(-1_015_000_000n, 'USD')).toBe('-1.02');
    expect(formatMoneyForDisplay(-1_005_000_000n, 'USD')).toBe('-1.00');
    expect(formatMoneyForDisplay(-5_000_000n, 'USD')).toBe('0.00');
    expect(formatMoneyForDisplay(-500_000_000n, 'JPY')).toBe('0');
    expect(formatMoneyForDisplay(-1_500_000_000n, 'JPY')).toBe('-2');
    expect(formatMoneyForDisplay(-1n, 'BHD')).toBe('0.000');
  });

  it('matches a digit-string reference for every currency, both signs', () => {
    fc.assert(
      fc.property(
        nanoAmount,
        fc.boolean(),
        fc.constantFrom(...CURRENCY_CODES),
        (magnitude, negate, currency) => {
          const nano = negate ? -magnitude : magnitude;
          const minorUnits = CURRENCIES[currency]?.minorUnits ?? -1;
          expect(formatMoneyForDisplay(nano, currency)).toBe(referenceDisplay(nano, minorUnits));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('hits ties with both even and odd last digits', () => {
    const tieCases = fc
      .tuple(fc.bigInt({ min: 0n, max: 10n ** 15n }), fc.constantFrom(0, 2, 3))
      .map(([minor, minorUnits]) => ({
        minor,
        minorUnits,
        nano: (2n * minor + 1n) * 5n * 10n ** BigInt(8 - minorUnits),
      }));
    fc.assert(
      fc.property(tieCases, ({ minor, minorUnits, nano }) => {
        const currency = minorUnits === 0 ? 'JPY' : minorUnits === 2 ? 'USD' : 'BHD';
        const expected = minor % 2n === 0n ? minor : minor + 1n;
        expect(roundToMinorUnits(nano, currency)).toBe(expected);
        expect(roundToMinorUnits(-nano, currency)).toBe(-expected);
      }),
    );
  });

  it('refuses an unknown currency with a typed error', () => {
    expect(() => formatMoneyForDisplay(1n, 'XXX')).toThrow(UnknownCurrencyError);
    expect(() => formatMoneyForDisplay(1n, 'usd')).toThrow(UnknownCurrencyError);
    expect(() => roundToMinorUnits(1n, 'toString')).toThrow(UnknownCurrencyError);
  });
});
