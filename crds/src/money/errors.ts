/** Why a decimal money string was refused; stable so API errors and tests can match on it. */
export type MoneyParseReason =
  | 'empty'
  | 'too-long'
  | 'whitespace'
  | 'sign'
  | 'exponent'
  | 'leading-zero'
  | 'too-many-integer-digits'
  | 'too-many-fraction-digits'
  | 'malformed';

/** Inputs can be attacker-sized, so messages quote only a prefix; the full input stays on the error. */
export function preview(input: string): string {
  return input.length <= 40 ? JSON.stringify(input) : `${JSON.stringify(input.slice(0, 40))}…`;
}

export class MoneyParseError extends Error {
  override readonly name = 'MoneyParseError';
  readonly input: string;
  readonly reason: MoneyParseReason;

  constructor(input: string, reason: MoneyParseReason, detail: string) {
    super(`invalid money amount ${preview(input)}: ${detail}`);
    this.input = input;
    this.reason = reason;
  }
}

export class UnknownCurrencyError extends Error {
  override readonly name = 'UnknownCurrencyError';
  readonly currency: string;

  constructor(currency: string) {
    super(`unknown or unsupported ISO 4217 currency ${preview(currency)}`);
    this.currency = currency;
  }
}

/** An integer operation was given an operand outside its domain (a divisor ≤ 0, a negative usage). */
export class ArithmeticRangeError extends RangeError {
  override readonly name = 'ArithmeticRangeError';
  readonly operand: string;
  readonly value: bigint;

  constructor(operand: string, value: bigint, requirement: string) {
    super(`${operand} must be ${requirement}, got ${value.toString()}`);
    this.operand = operand;
    this.value = value;
  }
}

/**
 * `value`, or an ArithmeticRangeError naming `operand` when it is negative. Usage, token counts
 * and rates never are: a negative one means a counter reset was turned into a negative delta.
 */
export function nonNegative(operand: string, value: bigint): bigint {
  if (value < 0n) throw new ArithmeticRangeError(operand, value, 'non-negative');
  return value;
}
