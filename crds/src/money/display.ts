import { CURRENCIES } from './currencies.ts';
import type { CurrencyInfo } from './currencies.ts';
import { NANO_SCALE } from './decimal-syntax.ts';
import { UnknownCurrencyError } from './errors.ts';
import { formatScaled } from './format-decimal.ts';
import { divRoundHalfEven } from './half-even.ts';

function currencyInfo(currency: string): CurrencyInfo {
  if (!Object.hasOwn(CURRENCIES, currency)) throw new UnknownCurrencyError(currency);
  return CURRENCIES[currency] as CurrencyInfo;
}

/** Nano-units rounded half-even to the currency's minor unit, returned as a count of minor units (e.g. cents). */
export function roundToMinorUnits(nano: bigint, currency: string): bigint {
  const { minorUnits } = currencyInfo(currency);
  return divRoundHalfEven(nano, 10n ** BigInt(NANO_SCALE - minorUnits));
}

/**
 * Formats nano-units for people: rounded half-even to the currency's minor units, always with
 * exactly that many fraction digits (USD "1.20", JPY "1", BHD "1.200"). Display only — stored
 * and summed amounts stay exact.
 */
export function formatMoneyForDisplay(nano: bigint, currency: string): string {
  const { minorUnits } = currencyInfo(currency);
  return formatScaled(roundToMinorUnits(nano, currency), minorUnits, minorUnits);
}
