import { CounterParseError } from '../units/errors.ts';
import { U64_MAX, parseCounter } from '../units/counter.ts';
import { LedgerFormatError, describeValue } from './errors.ts';
import { FIELD_MAX_LENGTH as MAX, TAG_NAME_PATTERN_SOURCE } from './limits.ts';

/** Strict field readers shared by parseEntry and the wire converters; each names the JSON path. */

export type JsonObject = Record<string, unknown>;

export function object(value: unknown, path: string): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new LedgerFormatError(path, 'wrong-type', `expected object, got ${describeValue(value)}`);
  }
  return value as JsonObject;
}

export function array(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) {
    throw new LedgerFormatError(path, 'wrong-type', `expected array, got ${describeValue(value)}`);
  }
  return value;
}

/** Refuses keys outside `required ∪ optional`: an unknown key means a format this reader does not know. */
export function keys(
  obj: JsonObject,
  path: string,
  required: readonly string[],
  optional: readonly string[] = [],
): void {
  for (const key of required) {
    if (obj[key] === undefined || !Object.hasOwn(obj, key))
      throw new LedgerFormatError(`${path}.${key}`, 'missing-field', 'required');
  }
  const all = Object.keys(obj);
  // Every required key is there; if nothing else is, there is nothing unknown to look for.
  if (all.length === required.length) return;
  for (const key of all) {
    if (!required.includes(key) && !optional.includes(key)) {
      throw new LedgerFormatError(
        `${path}.${key}`,
        'unknown-field',
        'not part of ledger format v1',
      );
    }
  }
}

export function string(value: unknown, path: string, maxLength: number = MAX.default): string {
  if (typeof value !== 'string') {
    throw new LedgerFormatError(path, 'wrong-type', `expected string, got ${describeValue(value)}`);
  }
  if (value.length === 0 || value.length > maxLength) {
    throw new LedgerFormatError(path, 'invalid-value', `length must be 1..${maxLength}`);
  }
  return value;
}

export function matching(value: unknown, path: string, pattern: RegExp, what: string): string {
  const text = string(value, path);
  if (!pattern.test(text)) {
    throw new LedgerFormatError(path, 'invalid-value', `${describeValue(text)} is not ${what}`);
  }
  return text;
}

export function boolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') {
    throw new LedgerFormatError(
      path,
      'wrong-type',
      `expected boolean, got ${describeValue(value)}`,
    );
  }
  return value;
}

/**
 * An unsigned decimal integer string (no sign, fraction, exponent or leading zero) up to
 * 2^64-1. JSON numbers are refused outright: they lose precision above 2^53.
 */
export function decimal(value: unknown, path: string): bigint {
  if (typeof value !== 'string') {
    throw new LedgerFormatError(
      path,
      typeof value === 'number' ? 'invalid-integer' : 'wrong-type',
      `expected a decimal integer string, got ${describeValue(value)}`,
    );
  }
  try {
    return parseCounter(value, { max: U64_MAX });
  } catch (error) {
    if (error instanceof CounterParseError) {
      throw new LedgerFormatError(path, 'invalid-integer', error.message);
    }
    throw error;
  }
}

const U64_MAX_TEXT = U64_MAX.toString();
const DECIMAL_TEXT = /^(?:0|[1-9][0-9]*)$/;

/**
 * Checks what decimal() checks without making a BigInt: for validating entries whose values are
 * not needed, such as each one the agent writes. The error is decimal()'s own, at `path`, or at
 * `path.key` when a key is given (so callers need not build the path unless the check fails).
 */
export function checkDecimal(value: unknown, path: string, key?: string): void {
  if (isDecimalText(value)) return;
  decimal(value, key === undefined ? path : `${path}.${key}`);
}

/** True exactly when decimal() accepts `value`. */
export function isDecimalText(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length <= U64_MAX_TEXT.length &&
    DECIMAL_TEXT.test(value) &&
    (value.length < U64_MAX_TEXT.length || value <= U64_MAX_TEXT)
  );
}

export const HASH_PATTERN = /^[0-9a-f]{64}$/;
/** Entry flags are kebab-case words. */
export const FLAG_PATTERN = /^[a-z0-9]+(-[a-z0-9]+)*$/;
/** Names of checkpoint counters and marker details. */
export const NAME_KEY_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,127}$/;
/** Allocation tag names (CostPolicy spec.allocation.tags). */
export const TAG_NAME_PATTERN = new RegExp(TAG_NAME_PATTERN_SOURCE);
