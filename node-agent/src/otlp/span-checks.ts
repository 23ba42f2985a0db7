// Checks shared by the JSON and protobuf decoders, so both refuse exactly the same spans.
import type { AttrValue, DecodeLimits, DecodeResult, SpanRejectReason } from './types.ts';
import { countReject } from './types.ts';

const TRACE_ID_RE = /^[0-9a-f]{32}$/;
const SPAN_ID_RE = /^[0-9a-f]{16}$/;
const ZERO_RE = /^0+$/;
export const U64_MAX = (1n << 64n) - 1n;

export function isTraceId(hex: string): boolean {
  return TRACE_ID_RE.test(hex) && !ZERO_RE.test(hex);
}

export function isSpanId(hex: string): boolean {
  return SPAN_ID_RE.test(hex) && !ZERO_RE.test(hex);
}

/** Thrown inside attribute conversion when a bound is exceeded; refuses the span, not the payload. */
export class AttributeLimitExceeded extends Error {
  override readonly name = 'AttributeLimitExceeded';
}

export function checkValueLength(length: number, limits: DecodeLimits): void {
  if (length > limits.maxValueLength) {
    throw new AttributeLimitExceeded(`value of ${length} > ${limits.maxValueLength}`);
  }
}

export function checkKey(key: string, limits: DecodeLimits): void {
  if (key.length > limits.maxKeyLength) {
    throw new AttributeLimitExceeded(`key of ${key.length} > ${limits.maxKeyLength}`);
  }
}

export function checkList(length: number, depth: number, limits: DecodeLimits): void {
  if (depth > limits.maxDepth) throw new AttributeLimitExceeded(`nesting > ${limits.maxDepth}`);
  if (length > limits.maxListLength) {
    throw new AttributeLimitExceeded(`list of ${length} > ${limits.maxListLength}`);
  }
}

export function checkCount(count: number, limits: DecodeLimits): void {
  if (count > limits.maxAttributes) {
    throw new AttributeLimitExceeded(`${count} attributes > ${limits.maxAttributes}`);
  }
}

/** The reason a decoded span is refused, or null when it is acceptable. */
export function spanRejectReason(
  traceId: string,
  spanId: string,
  parentSpanId: string | undefined,
  startNs: bigint,
  endNs: bigint,
  limits: DecodeLimits,
  nowNs: bigint | undefined,
): SpanRejectReason | null {
  if (!isTraceId(traceId) || !isSpanId(spanId)) return 'invalid_id';
  if (parentSpanId !== undefined && !isSpanId(parentSpanId)) return 'invalid_id';
  // Zero is proto3's "unset": a span without a start time has no activity to measure.
  if (startNs === 0n || endNs < startNs) return 'invalid_time';
  if (nowNs !== undefined && endNs > nowNs + limits.maxFutureNs) return 'time_in_future';
  return null;
}

export type AttrMap = Map<string, AttrValue>;

/** A span's own fields as either decoder reads them: '' for no parent, 0 for an unset status. */
export interface WireSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: number;
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly statusCode: number;
}

/**
 * Keeps a decoded span, or counts why it is refused. Both encodings end here, so a span is
 * judged and recorded the same way whichever wire form it came in.
 */
export function acceptSpan(
  result: DecodeResult,
  span: WireSpan,
  attributes: AttrMap,
  resourceAttributes: AttrMap,
  limits: DecodeLimits,
  nowNs: bigint | undefined,
): void {
  const { traceId, spanId, startNs, endNs, statusCode } = span;
  const parentSpanId = span.parentSpanId === '' ? undefined : span.parentSpanId;
  // A malformed id is data of the right type: it refuses the span, not the payload.
  const reason = spanRejectReason(traceId, spanId, parentSpanId, startNs, endNs, limits, nowNs);
  if (reason !== null) {
    countReject(result.rejected, reason);
    return;
  }
  result.spans.push({
    traceId,
    spanId,
    parentSpanId,
    name: span.name,
    kind: span.kind,
    startNs,
    endNs,
    attributes,
    ...(statusCode === 0 ? {} : { statusCode }),
    resourceAttributes,
  });
}
