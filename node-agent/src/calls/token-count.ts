// One GenAI token count from an attribute value. SDKs send ints, doubles (JSON numbers written
// as `100.0`, or a protobuf doubleValue) and sometimes decimal strings: an integral value is the
// count whatever its wire type; anything else is a bad count that refuses the span.
import type { AttrValue } from '../otlp/types.ts';

/** Why a count is refused; bounded, so usable in a metric label. */
export type TokenCountProblem = 'negative' | 'fractional' | 'not_a_number' | 'too_large';

/** No single call uses a trillion tokens: a larger count is a broken instrumentation. */
export const MAX_TOKEN_COUNT = 1_000_000_000_000n;
const MAX_TOKEN_NUMBER = Number(MAX_TOKEN_COUNT);
const DECIMAL_RE = /^[0-9]{1,19}$/;
const NEGATIVE_DECIMAL_RE = /^-[0-9]+$/;

export function tokenCount(value: AttrValue): bigint | TokenCountProblem {
  if (typeof value === 'bigint') {
    if (value < 0n) return 'negative';
    return value > MAX_TOKEN_COUNT ? 'too_large' : value;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return 'not_a_number';
    if (!Number.isInteger(value)) return 'fractional';
    if (value < 0) return 'negative';
    // -0 is integral and not below zero: it is 0.
    return value > MAX_TOKEN_NUMBER ? 'too_large' : BigInt(value);
  }
  if (typeof value === 'string') {
    if (DECIMAL_RE.test(value)) {
      const n = BigInt(value);
      return n > MAX_TOKEN_COUNT ? 'too_large' : n;
    }
    return NEGATIVE_DECIMAL_RE.test(value) ? 'negative' : 'not_a_number';
  }
  return 'not_a_number';
}
