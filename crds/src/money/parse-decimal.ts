import {
  MAX_DECIMAL_LENGTH,
  MAX_INTEGER_DIGITS,
  NANO_PER_UNIT,
  NANO_SCALE,
} from './decimal-syntax.ts';
import { MoneyParseError } from './errors.ts';

// Deliberately looser than DECIMAL_PATTERN_SOURCE: it splits the parts so a refusal can name
// its reason; the digit-count and leading-zero checks below make the two equivalent.
const SHAPE = /^([0-9]+)(?:\.([0-9]+))?$/;

/**
 * Parses a non-negative decimal money string into integer nano-units, exactly.
 * Signs are refused: amounts at the API edge (rates, budgets) are never negative.
 */
export function parseMoney(input: string): bigint {
  if (input.length === 0) throw new MoneyParseError(input, 'empty', 'empty string');
  if (input.length > MAX_DECIMAL_LENGTH) {
    throw new MoneyParseError(input, 'too-long', `longer than ${MAX_DECIMAL_LENGTH} characters`);
  }
  if (/\s/.test(input)) throw new MoneyParseError(input, 'whitespace', 'contains whitespace');
  if (/^[+-]/.test(input)) throw new MoneyParseError(input, 'sign', 'signs are not allowed');
  if (/[eE]/.test(input))
    throw new MoneyParseError(input, 'exponent', 'exponent notation is not allowed');

  const match = SHAPE.exec(input);
  if (match === null) {
    throw new MoneyParseError(
      input,
      'malformed',
      'expected digits with an optional "." and fraction digits',
    );
  }
  const integer = match[1] ?? '';
  const fraction = match[2] ?? '';
  if (integer.length > 1 && integer.startsWith('0')) {
    throw new MoneyParseError(input, 'leading-zero', 'leading zeros are not allowed');
  }
  if (integer.length > MAX_INTEGER_DIGITS) {
    throw new MoneyParseError(
      input,
      'too-many-integer-digits',
      `more than ${MAX_INTEGER_DIGITS} integer digits`,
    );
  }
  if (fraction.length > NANO_SCALE) {
    throw new MoneyParseError(
      input,
      'too-many-fraction-digits',
      `more than ${NANO_SCALE} fractional digits (nano precision)`,
    );
  }
  return BigInt(integer) * NANO_PER_UNIT + BigInt(fraction.padEnd(NANO_SCALE, '0'));
}
