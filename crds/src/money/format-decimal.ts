import { NANO_SCALE } from './decimal-syntax.ts';

/**
 * Writes value × 10^-scale as a decimal string with at least minFractionDigits fraction digits
 * (trailing zeros beyond that are trimmed). Shared by the exact and display formatters.
 */
export function formatScaled(value: bigint, scale: number, minFractionDigits: number): string {
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString().padStart(scale + 1, '0');
  const integer = digits.slice(0, digits.length - scale);
  let fraction = digits.slice(digits.length - scale);
  let end = fraction.length;
  while (end > minFractionDigits && fraction[end - 1] === '0') end--;
  fraction = fraction.slice(0, end);
  const sign = negative ? '-' : '';
  return fraction.length === 0 ? `${sign}${integer}` : `${sign}${integer}.${fraction}`;
}

export interface FormatMoneyOptions {
  /**
   * Pad the fraction to at least this many digits (0–9). Never drops nonzero digits, so the
   * output stays exact; 9 gives a fixed nano scale.
   */
  readonly minFractionDigits?: number;
}

/**
 * Formats nano-units as an exact decimal string. Without options the result is canonical
 * (trailing zeros trimmed) and, for non-negative amounts, parseMoney accepts it. Negative
 * amounts (adjustments) get a leading "-".
 */
export function formatMoney(nano: bigint, options: FormatMoneyOptions = {}): string {
  const minFractionDigits = options.minFractionDigits ?? 0;
  if (
    !Number.isInteger(minFractionDigits) ||
    minFractionDigits < 0 ||
    minFractionDigits > NANO_SCALE
  ) {
    throw new RangeError(
      `minFractionDigits must be an integer from 0 to ${NANO_SCALE}, got ${minFractionDigits}`,
    );
  }
  return formatScaled(nano, NANO_SCALE, minFractionDigits);
}
