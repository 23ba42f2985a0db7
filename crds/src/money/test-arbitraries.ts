import fc from 'fast-check';
import { MAX_INTEGER_DIGITS, NANO_SCALE } from './decimal-syntax.ts';

// Shared by the money and units tests; builds strings from digits so generation does not lean
// on the regex under test.
const digit = fc.constantFrom(...'0123456789');
const nonZeroDigit = fc.constantFrom(...'123456789');

export const integerPart: fc.Arbitrary<string> = fc.oneof(
  fc.constant('0'),
  fc
    .tuple(nonZeroDigit, fc.array(digit, { maxLength: MAX_INTEGER_DIGITS - 1 }))
    .map(([head, tail]) => head + tail.join('')),
);

export const fractionPart: fc.Arbitrary<string> = fc
  .array(digit, { minLength: 1, maxLength: NANO_SCALE })
  .map((ds) => ds.join(''));

/** Any string parseMoney must accept. */
export const validDecimal: fc.Arbitrary<string> = fc
  .tuple(integerPart, fc.option(fractionPart, { nil: undefined }))
  .map(([i, f]) => (f === undefined ? i : `${i}.${f}`));

/** Every nano amount a valid decimal string can denote: [0, 10^27). */
export const nanoAmount: fc.Arbitrary<bigint> = fc.oneof(
  fc.bigInt({ min: 0n, max: 10n ** 27n - 1n }),
  fc.bigInt({ min: 0n, max: 10n ** 12n }),
);
