// The normalised span both decoders produce: ids as lowercase hex, times as BigInt ns.

/**
 * An OTLP AnyValue. `bigint` is intValue, `number` is doubleValue (never usage: tokens refuse
 * it), `Uint8Array` is bytesValue, arrays and maps are arrayValue and kvlistValue, `null` is an
 * AnyValue with no value set.
 */
export type AttrValue =
  | string
  | boolean
  | bigint
  | number
  | Uint8Array
  | null
  | readonly AttrValue[]
  | ReadonlyMap<string, AttrValue>;

export type Attributes = ReadonlyMap<string, AttrValue>;

/** OTLP Span.SpanKind. */
export const SPAN_KIND_UNSPECIFIED = 0;
export const SPAN_KIND_INTERNAL = 1;
export const SPAN_KIND_SERVER = 2;
export const SPAN_KIND_CLIENT = 3;
export const SPAN_KIND_PRODUCER = 4;
export const SPAN_KIND_CONSUMER = 5;

/** OTLP Status.StatusCode ERROR. */
export const STATUS_CODE_ERROR = 2;

export interface SpanRecord {
  /** 32 lowercase hex characters, not all zero. */
  readonly traceId: string;
  /** 16 lowercase hex characters, not all zero. */
  readonly spanId: string;
  /** Absent for a root span. */
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: number;
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly attributes: Attributes;
  /** OTLP Status.code when it is not UNSET (STATUS_CODE_ERROR is 2). */
  readonly statusCode?: number;
  /** Shared by every span of one ResourceSpans. */
  readonly resourceAttributes: Attributes;
}

/** Bounded reasons a span is refused; usable as a metric label. */
export type SpanRejectReason =
  | 'invalid_id'
  | 'invalid_time'
  | 'time_in_future'
  | 'attribute_limit'
  | 'invalid_session_id'
  | 'spoofed_pod'
  | 'unknown_pod'
  | 'ambiguous_pod'
  | 'untrusted_source'
  | 'token_count_negative'
  | 'token_count_fractional'
  | 'token_count_not_a_number'
  | 'token_count_too_large'
  | 'stale_call';

export interface DecodeLimits {
  /** Per span, and separately per resource. */
  readonly maxAttributes: number;
  readonly maxKeyLength: number;
  /** Characters of a string value, bytes of a bytes value. */
  readonly maxValueLength: number;
  /** Elements of one array or kvlist value. */
  readonly maxListLength: number;
  /** Levels of arrayValue/kvlistValue inside one attribute value. */
  readonly maxDepth: number;
  /** Spans refused when they start or end further than this past `nowNs`. */
  readonly maxFutureNs: bigint;
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  maxAttributes: 128,
  maxKeyLength: 256,
  maxValueLength: 16_384,
  maxListLength: 1024,
  maxDepth: 8,
  maxFutureNs: 3_600_000_000_000n,
};

export interface DecodeOptions {
  readonly limits?: DecodeLimits;
  /** Wall clock for the future-timestamp check; the check is skipped when absent. */
  readonly nowNs?: bigint;
}

export interface DecodeResult {
  readonly spans: SpanRecord[];
  /** Count of refused spans per reason. */
  readonly rejected: Map<SpanRejectReason, number>;
}

/** The payload as a whole cannot be decoded: answered with 400. */
export class OtlpDecodeError extends Error {
  override readonly name = 'OtlpDecodeError';
  readonly encoding: 'json' | 'protobuf';
  /** JSON path or protobuf message where decoding failed. */
  readonly path: string;

  constructor(encoding: 'json' | 'protobuf', path: string, reason: string, options?: ErrorOptions) {
    super(`${encoding} ${path}: ${reason}`, options);
    this.encoding = encoding;
    this.path = path;
  }
}

export function countReject(map: Map<SpanRejectReason, number>, reason: SpanRejectReason, n = 1) {
  map.set(reason, (map.get(reason) ?? 0) + n);
}
