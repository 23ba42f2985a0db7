import { preview } from '../money/errors.ts';

/** Why an entry was refused; stable so the operator and tests can match on it. */
export type LedgerFormatReason =
  | 'not-json'
  | 'not-canonical'
  | 'unsupported-version'
  | 'unknown-kind'
  | 'missing-field'
  | 'unknown-field'
  | 'wrong-type'
  | 'invalid-integer'
  | 'invalid-value';

/** A ledger entry (or a value meant to become one) does not have the v1 shape. */
export class LedgerFormatError extends Error {
  override readonly name = 'LedgerFormatError';
  /** JSON path of the offending value, e.g. `$.usage.cpuNs`. */
  readonly path: string;
  readonly reason: LedgerFormatReason;
  readonly detail: string;
  /** The entry's seq when it could be read, so logs point at the right line. */
  readonly seq: bigint | undefined;

  constructor(path: string, reason: LedgerFormatReason, detail: string, seq?: bigint) {
    super(`ledger entry${seq === undefined ? '' : ` seq ${seq}`} ${path}: ${reason}: ${detail}`);
    this.path = path;
    this.reason = reason;
    this.detail = detail;
    this.seq = seq;
  }
}

/** Quotes an attacker-sized value for an error message. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return preview(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}
