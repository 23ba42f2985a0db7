// OTLP/protobuf ExportTraceServiceRequest → SpanRecord[], and the protobuf encoders for
// responses (and for tests and the bench). Same acceptance rules as decode-json.ts.
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import {
  AttributeLimitExceeded,
  checkCount,
  checkKey,
  checkList,
  checkValueLength,
  acceptSpan,
} from './span-checks.ts';
import type { AttrMap } from './span-checks.ts';
import { decodeWireSteps } from './decode-protobuf-wire.ts';
import type { AttrValue, DecodeLimits, DecodeOptions, DecodeResult } from './types.ts';
import { runSteps, STEP_SPANS } from './steps.ts';
import { countReject, DEFAULT_DECODE_LIMITS, OtlpDecodeError } from './types.ts';

const PROTO_DIR = fileURLToPath(new URL('./proto/', import.meta.url));

/** Loaded once, when the receiver first imports this module: a missing or broken .proto fails
 * that import (a 500 and a log line), never decodes a request wrongly. */
const root = protobuf.loadSync(['trace_service.proto', 'status.proto'].map((f) => PROTO_DIR + f));
root.resolveAll();

export const ExportTraceServiceRequest = root.lookupType(
  'opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest',
);
export const ExportTraceServiceResponse = root.lookupType(
  'opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse',
);
export const RpcStatus = root.lookupType('google.rpc.Status');

// Shapes protobufjs produces for the subset we declared (long.js for 64-bit fields).
interface LongLike {
  readonly low: number;
  readonly high: number;
}
interface PbAnyValue {
  readonly value?: string;
  readonly stringValue?: string;
  readonly boolValue?: boolean;
  readonly intValue?: LongLike | number;
  readonly doubleValue?: number;
  readonly arrayValue?: { readonly values: readonly PbAnyValue[] };
  readonly kvlistValue?: { readonly values: readonly PbKeyValue[] };
  readonly bytesValue?: Uint8Array;
}
interface PbKeyValue {
  readonly key: string;
  readonly value?: PbAnyValue | null;
}
interface PbSpan {
  readonly traceId: Uint8Array;
  readonly spanId: Uint8Array;
  readonly parentSpanId: Uint8Array;
  readonly name: string;
  readonly kind: number;
  readonly startTimeUnixNano: LongLike | number;
  readonly endTimeUnixNano: LongLike | number;
  readonly attributes: readonly PbKeyValue[];
  readonly status?: { readonly code: number } | null;
}
interface PbRequest {
  readonly resourceSpans: readonly {
    readonly resource?: { readonly attributes: readonly PbKeyValue[] } | null;
    readonly scopeSpans: readonly { readonly spans: readonly PbSpan[] }[];
  }[];
}

function unsigned64(v: LongLike | number): bigint {
  if (typeof v === 'number') return BigInt(v);
  return (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
}

function signed64(v: LongLike | number): bigint {
  return typeof v === 'number' ? BigInt(v) : BigInt.asIntN(64, unsigned64(v));
}

/** Unset bytes fields come back as protobufjs's shared empty array, not a Uint8Array. */
function hex(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array)) return '';
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function anyValue(
  v: PbAnyValue | null | undefined,
  depth: number,
  limits: DecodeLimits,
): AttrValue {
  switch (v?.value) {
    case 'stringValue':
      checkValueLength((v.stringValue as string).length, limits);
      return v.stringValue as string;
    case 'boolValue':
      return v.boolValue as boolean;
    case 'intValue':
      return signed64(v.intValue as LongLike);
    case 'doubleValue':
      return v.doubleValue as number;
    case 'bytesValue': {
      const bytes = v.bytesValue as Uint8Array;
      checkValueLength(bytes.length, limits);
      // A copy, so a retained attribute does not pin the whole request buffer.
      return new Uint8Array(bytes);
    }
    case 'arrayValue': {
      const values = v.arrayValue?.values ?? [];
      checkList(values.length, depth + 1, limits);
      return values.map((item) => anyValue(item, depth + 1, limits));
    }
    case 'kvlistValue': {
      const values = v.kvlistValue?.values ?? [];
      checkList(values.length, depth + 1, limits);
      return keyValues(values, depth + 1, limits);
    }
    default:
      return null;
  }
}

function keyValues(kvs: readonly PbKeyValue[], depth: number, limits: DecodeLimits): AttrMap {
  const out: AttrMap = new Map();
  for (const kv of kvs) {
    checkKey(kv.key, limits);
    out.set(kv.key, anyValue(kv.value, depth, limits));
  }
  return out;
}

function attributes(kvs: readonly PbKeyValue[], limits: DecodeLimits): AttrMap {
  checkCount(kvs.length, limits);
  return keyValues(kvs, 0, limits);
}

export function decodeProtobufRequest(body: Uint8Array, options: DecodeOptions = {}): DecodeResult {
  return runSteps(decodeProtobufRequestSteps(body, options));
}

/** {@link decodeProtobufRequest} in steps of STEP_SPANS spans for the receiver's turns: straight
 * from the wire when the request has the plain shape exporters send (decode-protobuf-wire.ts),
 * else through protobufjs. */
export function* decodeProtobufRequestSteps(
  body: Uint8Array,
  options: DecodeOptions = {},
): Generator<void, DecodeResult, void> {
  const limits = options.limits ?? DEFAULT_DECODE_LIMITS;
  const plain = yield* decodeWireSteps(body, limits, options.nowNs);
  return plain ?? (yield* decodeGeneralSteps(body, options));
}

/** Through protobufjs: the whole message, then the spans. Any input, with its exact error. */
export function* decodeGeneralSteps(
  body: Uint8Array,
  options: DecodeOptions = {},
): Generator<void, DecodeResult, void> {
  const limits = options.limits ?? DEFAULT_DECODE_LIMITS;
  let message: PbRequest;
  try {
    message = ExportTraceServiceRequest.decode(body) as unknown as PbRequest;
  } catch (err) {
    // protobufjs throws RangeError for truncation and Error for bad wire types or depth > 100.
    const reason = err instanceof Error ? err.message : String(err);
    throw new OtlpDecodeError('protobuf', 'ExportTraceServiceRequest', reason, { cause: err });
  }
  yield;
  const result: DecodeResult = { spans: [], rejected: new Map() };
  let decoded = 0;
  for (const rs of message.resourceSpans) {
    let resourceAttributes: AttrMap | null;
    try {
      resourceAttributes = attributes(rs.resource?.attributes ?? [], limits);
    } catch (err) {
      if (!(err instanceof AttributeLimitExceeded)) throw err;
      resourceAttributes = null;
    }
    for (const ss of rs.scopeSpans) {
      if (resourceAttributes === null) {
        countReject(result.rejected, 'attribute_limit', ss.spans.length);
        continue;
      }
      for (const span of ss.spans) {
        decodeSpan(span, resourceAttributes, limits, options, result);
        if (++decoded % STEP_SPANS === 0) yield;
      }
    }
  }
  return result;
}

function decodeSpan(
  s: PbSpan,
  resourceAttributes: AttrMap,
  limits: DecodeLimits,
  options: DecodeOptions,
  result: DecodeResult,
): void {
  let attrs: AttrMap;
  try {
    attrs = attributes(s.attributes, limits);
    checkValueLength(s.name.length, limits);
  } catch (err) {
    if (!(err instanceof AttributeLimitExceeded)) throw err;
    countReject(result.rejected, 'attribute_limit');
    return;
  }
  const wire = {
    traceId: hex(s.traceId),
    spanId: hex(s.spanId),
    parentSpanId: hex(s.parentSpanId),
    name: s.name,
    kind: s.kind,
    startNs: unsigned64(s.startTimeUnixNano),
    endNs: unsigned64(s.endTimeUnixNano),
    statusCode: s.status?.code ?? 0,
  };
  acceptSpan(result, wire, attrs, resourceAttributes, limits, options.nowNs);
}

// ---------------------------------------------------------------------------------------------
// Encoders

const HEX_ID_RE = /^[0-9a-fA-F]*$/;

/** OTLP/JSON-shaped value → the object protobufjs `fromObject` expects (ids as bytes). */
function toProtobufShape(value: unknown, key: string): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map((item) => toProtobufShape(item, key));
  if (typeof value !== 'object' || value === null) {
    if (
      (key === 'traceId' || key === 'spanId' || key === 'parentSpanId') &&
      typeof value === 'string'
    ) {
      if (!HEX_ID_RE.test(value) || value.length % 2 !== 0) {
        throw new OtlpDecodeError('json', key, 'id is not hex');
      }
      return Buffer.from(value, 'hex');
    }
    return value;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = toProtobufShape(v, k);
  return out;
}

/** Encodes an OTLP/JSON ExportTraceServiceRequest object as protobuf (tests, bench). */
export function encodeExportRequest(json: unknown): Uint8Array {
  const shaped = toProtobufShape(json, '') as Record<string, unknown>;
  return ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(shaped)).finish();
}

export interface PartialSuccess {
  readonly rejectedSpans: bigint;
  readonly errorMessage: string;
}

export function encodeExportResponseProtobuf(partial: PartialSuccess | null): Uint8Array {
  const body =
    partial === null
      ? {}
      : {
          partialSuccess: {
            rejectedSpans: partial.rejectedSpans.toString(),
            errorMessage: partial.errorMessage,
          },
        };
  return ExportTraceServiceResponse.encode(ExportTraceServiceResponse.fromObject(body)).finish();
}

export function decodeExportResponseProtobuf(body: Uint8Array): PartialSuccess | null {
  const m = ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(body), {
    longs: String,
  }) as { partialSuccess?: { rejectedSpans?: string; errorMessage?: string } };
  if (m.partialSuccess === undefined) return null;
  return {
    rejectedSpans: BigInt(m.partialSuccess.rejectedSpans ?? '0'),
    errorMessage: m.partialSuccess.errorMessage ?? '',
  };
}

export interface RpcStatusBody {
  readonly code: number;
  readonly message: string;
}

export function encodeStatusProtobuf(status: RpcStatusBody): Uint8Array {
  return RpcStatus.encode(RpcStatus.fromObject(status)).finish();
}

export function decodeStatusProtobuf(body: Uint8Array): RpcStatusBody {
  const m = RpcStatus.toObject(RpcStatus.decode(body), { defaults: true }) as RpcStatusBody;
  return { code: m.code, message: m.message };
}
