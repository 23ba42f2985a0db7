export { CURRENCIES, CURRENCY_CODES, isCurrencyCode } from './currencies.ts';
export type { CurrencyInfo } from './currencies.ts';
export {
  DECIMAL_PATTERN_SOURCE,
  MAX_DECIMAL_LENGTH,
  MAX_INTEGER_DIGITS,
  NANO_PER_UNIT,
  NANO_SCALE,
} from './decimal-syntax.ts';
export { formatMoneyForDisplay, roundToMinorUnits } from './display.ts';
export { ArithmeticRangeError, MoneyParseError, UnknownCurrencyError } from './errors.ts';
export type { MoneyParseReason } from './errors.ts';
export { formatMoney } from './format-decimal.ts';
export type { FormatMoneyOptions } from './format-decimal.ts';
export { divRoundHalfEven, mulDivRoundHalfEven } from './half-even.ts';
export { parseMoney } from './parse-decimal.ts';
