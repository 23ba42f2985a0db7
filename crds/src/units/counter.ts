import { nonNegative } from '../money/errors.ts';
import { CounterParseError } from './errors.ts';

/** Kernel counters (cgroup cpu.stat, io.stat, GPU usage) are unsigned 64-bit. */
export const U64_MAX = (1n << 64n) - 1n;
/** Its decimal length: every kernel counter read is checked against it before BigInt(). */
const U64_MAX_DIGITS = U64_MAX.toString().length;

export interface ParseCounterOptions {
  /** Largest accepted value; defaults to U64_MAX. Raise it for aggregated usage at the API edge. */
  readonly max?: bigint;
}

/**
 * Parses an unsigned decimal integer string strictly: ASCII digits only, no sign, whitespace
 * or leading zeros. Callers trim kernel file lines first.
 */
export function parseCounter(input: string, options: ParseCounterOptions = {}): bigint {
  const max = options.max ?? U64_MAX;
  if (input.length === 0) throw new CounterParseError(input, 'empty', 'empty string');
  // Checked before the pattern so an oversized input costs no more than max's length to refuse.
  const maxDigits = max === U64_MAX ? U64_MAX_DIGITS : max.toString().length;
  if (input.length > maxDigits) {
    throw new CounterParseError(input, 'out-of-range', `greater than ${max.toString()}`);
  }
  if (!/^[0-9]+$/.test(input)) {
    throw new CounterParseError(input, 'not-a-decimal-integer', 'expected ASCII digits only');
  }
  if (input.length > 1 && input.startsWith('0')) {
    throw new CounterParseError(input, 'leading-zero', 'leading zeros are not allowed');
  }
  const value = BigInt(input);
  // Fewer digits than max: below it without comparing BigInts.
  if (input.length < maxDigits) return value;
  if (value > max)
    throw new CounterParseError(input, 'out-of-range', `greater than ${max.toString()}`);
  return value;
}

/** Formats a non-negative BigInt as the decimal string parseCounter reads back. */
export function formatCounter(value: bigint): string {
  return nonNegative('counter', value).toString();
}
