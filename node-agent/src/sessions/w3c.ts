// Strict parsers for the W3C `traceparent` (Trace Context) and `baggage` headers. Both headers
// are untrusted input: every limit is checked before any work proportional to the input.

/** Longest `traceparent` we look at (OTel Python's cap); longer values are ignored unread. */
export const TRACEPARENT_MAX_LENGTH = 512;
export const TRACEPARENT_V00_LENGTH = 55;
export const TRACE_FLAG_SAMPLED = 0x01;
/** Trace Context Level 2: the right-most 7 bytes of the trace id are random. */
export const TRACE_FLAG_RANDOM_TRACE_ID = 0x02;

export interface Traceparent {
  /** 0..254; 0xff is forbidden. */
  readonly version: number;
  readonly traceId: string;
  readonly parentId: string;
  /** The whole flags byte; test bits with a mask, reserved bits may be set by future versions. */
  readonly flags: number;
}

export type TraceparentErrorReason =
  | 'too-long'
  | 'too-short'
  | 'bad-length'
  | 'bad-version'
  | 'forbidden-version'
  | 'bad-delimiter'
  | 'bad-trace-id'
  | 'zero-trace-id'
  | 'bad-parent-id'
  | 'zero-parent-id'
  | 'bad-flags';

export class TraceparentError extends Error {
  override readonly name = 'TraceparentError';
  readonly reason: TraceparentErrorReason;

  constructor(reason: TraceparentErrorReason) {
    super(`invalid traceparent: ${reason}`);
    this.reason = reason;
  }
}

export type W3CResult<T, E> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

const LOWER_HEX_RE = /^[0-9a-f]*$/;
const ZERO_RE = /^0*$/;

function fail<E>(error: E): { ok: false; error: E } {
  return { ok: false, error };
}

/**
 * Parses a `traceparent` value. Version 00 must be exactly 55 characters; a higher version is
 * read at the version-00 positions and may continue only after a `-` (forward compatibility).
 */
export function parseTraceparent(value: string): W3CResult<Traceparent, TraceparentError> {
  if (value.length > TRACEPARENT_MAX_LENGTH) return fail(new TraceparentError('too-long'));
  if (value.length < TRACEPARENT_V00_LENGTH) return fail(new TraceparentError('too-short'));
  const versionHex = value.slice(0, 2);
  if (!LOWER_HEX_RE.test(versionHex)) return fail(new TraceparentError('bad-version'));
  if (versionHex === 'ff') return fail(new TraceparentError('forbidden-version'));
  const version = Number.parseInt(versionHex, 16);
  if (version === 0 && value.length !== TRACEPARENT_V00_LENGTH) {
    return fail(new TraceparentError('bad-length'));
  }
  if (value.length > TRACEPARENT_V00_LENGTH && value[TRACEPARENT_V00_LENGTH] !== '-') {
    return fail(new TraceparentError('bad-delimiter'));
  }
  if (value[2] !== '-' || value[35] !== '-' || value[52] !== '-') {
    return fail(new TraceparentError('bad-delimiter'));
  }
  const traceId = value.slice(3, 35);
  const parentId = value.slice(36, 52);
  const flagsHex = value.slice(53, 55);
  if (!LOWER_HEX_RE.test(traceId)) return fail(new TraceparentError('bad-trace-id'));
  if (ZERO_RE.test(traceId)) return fail(new TraceparentError('zero-trace-id'));
  if (!LOWER_HEX_RE.test(parentId)) return fail(new TraceparentError('bad-parent-id'));
  if (ZERO_RE.test(parentId)) return fail(new TraceparentError('zero-parent-id'));
  if (!LOWER_HEX_RE.test(flagsHex)) return fail(new TraceparentError('bad-flags'));
  return { ok: true, value: { version, traceId, parentId, flags: Number.parseInt(flagsHex, 16) } };
}

// ---------------------------------------------------------------------------------------------
// Baggage

export const BAGGAGE_MAX_BYTES = 8192;
export const BAGGAGE_MAX_MEMBERS = 64;

export interface BaggageProperty {
  readonly key: string;
  /** Percent-decoded; absent for a bare `key` property. */
  readonly value?: string;
}

export interface BaggageMember {
  readonly key: string;
  /** Percent-decoded; invalid UTF-8 decodes to U+FFFD as the spec requires. */
  readonly value: string;
  readonly properties: readonly BaggageProperty[];
}

export type BaggageErrorReason =
  | 'too-large'
  | 'too-many-members'
  | 'empty-member'
  | 'bad-key'
  | 'missing-equals'
  | 'bad-value'
  | 'bad-percent-encoding'
  | 'bad-property';

export class BaggageError extends Error {
  override readonly name = 'BaggageError';
  readonly reason: BaggageErrorReason;
  /** 0-based index of the offending list-member, -1 for the header as a whole. */
  readonly member: number;

  constructor(reason: BaggageErrorReason, member: number) {
    super(`invalid baggage: ${reason}${member >= 0 ? ` (list-member ${member})` : ''}`);
    this.reason = reason;
    this.member = member;
  }
}

// RFC 7230 §3.2.6 token.
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E
const BAGGAGE_VALUE_RE = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$/;
const PERCENT_RE = /%(?![0-9A-Fa-f]{2})/;
const OWS = /^[ \t]+|[ \t]+$/g;
const utf8 = new TextDecoder('utf-8', { fatal: false });

function trimOws(s: string): string {
  return s.replace(OWS, '');
}

function decodeValue(raw: string): string | null {
  if (!raw.includes('%')) return raw;
  if (PERCENT_RE.test(raw)) return null;
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === '%') {
      bytes.push(Number.parseInt(raw.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(raw.charCodeAt(i));
    }
  }
  return utf8.decode(Uint8Array.from(bytes));
}

/** Splits `key OWS "=" OWS value`; null when there is no `=`. */
function splitPair(part: string): { key: string; rawValue: string } | null {
  const eq = part.indexOf('=');
  if (eq < 0) return null;
  return { key: trimOws(part.slice(0, eq)), rawValue: trimOws(part.slice(eq + 1)) };
}

/**
 * Parses a `baggage` value. Several header lines are combined with `,` (RFC 7230) before the
 * limits apply. Over-limit headers are refused whole rather than truncated, so a session id is
 * never taken from a header that was only partly read.
 */
export function parseBaggage(
  header: string | readonly string[],
): W3CResult<readonly BaggageMember[], BaggageError> {
  const value = typeof header === 'string' ? header : header.join(',');
  // Header strings hold one byte per character (latin1), so length is the byte count.
  if (value.length > BAGGAGE_MAX_BYTES) return fail(new BaggageError('too-large', -1));
  const parts = value.split(',');
  if (parts.length > BAGGAGE_MAX_MEMBERS) return fail(new BaggageError('too-many-members', -1));
  const members: BaggageMember[] = [];
  for (let i = 0; i < parts.length; i++) {
    const fields = (parts[i] as string).split(';');
    const first = trimOws(fields[0] as string);
    if (first === '' && fields.length === 1) return fail(new BaggageError('empty-member', i));
    const pair = splitPair(first);
    if (pair === null) return fail(new BaggageError('missing-equals', i));
    if (!TOKEN_RE.test(pair.key)) return fail(new BaggageError('bad-key', i));
    if (!BAGGAGE_VALUE_RE.test(pair.rawValue)) return fail(new BaggageError('bad-value', i));
    const decoded = decodeValue(pair.rawValue);
    if (decoded === null) return fail(new BaggageError('bad-percent-encoding', i));
    const properties: BaggageProperty[] = [];
    for (let j = 1; j < fields.length; j++) {
      const prop = trimOws(fields[j] as string);
      const propPair = splitPair(prop);
      if (propPair === null) {
        if (!TOKEN_RE.test(prop)) return fail(new BaggageError('bad-property', i));
        properties.push({ key: prop });
        continue;
      }
      if (!TOKEN_RE.test(propPair.key) || !BAGGAGE_VALUE_RE.test(propPair.rawValue)) {
        return fail(new BaggageError('bad-property', i));
      }
      const propValue = decodeValue(propPair.rawValue);
      if (propValue === null) return fail(new BaggageError('bad-percent-encoding', i));
      properties.push({ key: propPair.key, value: propValue });
    }
    members.push({ key: pair.key, value: decoded, properties });
  }
  return { ok: true, value: members };
}

/** Value of `key`; with duplicate keys the last one wins. */
export function baggageValue(members: readonly BaggageMember[], key: string): string | undefined {
  for (let i = members.length - 1; i >= 0; i--) {
    const member = members[i] as BaggageMember;
    if (member.key === key) return member.value;
  }
  return undefined;
}
