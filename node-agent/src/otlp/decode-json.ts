// OTLP/JSON ExportTraceServiceRequest → SpanRecord[]. Follows the OTLP JSON mapping: hex ids
// (case-insensitive), integer enums, lowerCamelCase keys, 64-bit integers as strings or numbers,
// unknown fields ignored. A wrong type anywhere refuses the payload (400); a span over a limit or
// with bad ids or times is refused alone (partial success).
import {
  AttributeLimitExceeded,
  checkCount,
  checkKey,
  checkList,
  checkValueLength,
  acceptSpan,
  U64_MAX,
} from './span-checks.ts';
import type { AttrMap } from './span-checks.ts';
import type { AttrValue, DecodeOptions, DecodeResult } from './types.ts';
import { runSteps, STEP_SPANS } from './steps.ts';
import { countReject, DEFAULT_DECODE_LIMITS, OtlpDecodeError } from './types.ts';
import type { DecodeLimits } from './types.ts';

type Json = unknown;
type JsonObject = { readonly [key: string]: Json };

// Integers above 2^53 written as JSON numbers would lose precision in JSON.parse; when the text
// may have such a literal (16+ digits right after `:`, `,` or `[`), a reviver re-reads it from
// the source text (Node ≥ 21) as a BigInt. The reviver is slower and recursive, so only then.
const LONG_NUMBER_RE = /[:,[]\s*-?[0-9]{16}/;
const INTEGER_SOURCE_RE = /^-?[0-9]+$/;
const DECIMAL_U64_RE = /^[0-9]{1,20}$/;
const DECIMAL_I64_RE = /^-?[0-9]{1,19}$/;
const BASE64_RE = /^[A-Za-z0-9+/_-]*={0,2}$/;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

function exactReviver(_key: string, value: Json, context?: { source?: string }): Json {
  if (
    typeof value === 'number' &&
    !Number.isSafeInteger(value) &&
    context?.source !== undefined &&
    INTEGER_SOURCE_RE.test(context.source)
  ) {
    return BigInt(context.source);
  }
  return value;
}

function bad(path: string, reason: string): OtlpDecodeError {
  return new OtlpDecodeError('json', path, reason);
}

function isObject(v: Json): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function object(v: Json, path: string): JsonObject {
  if (!isObject(v)) throw bad(path, 'expected an object');
  return v;
}

/** A repeated field: absent or null is empty. */
function list(v: Json, path: string): readonly Json[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw bad(path, 'expected an array');
  return v;
}

function str(v: Json, path: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw bad(path, 'expected a string');
  return v;
}

/** Ids are hex in OTLP/JSON; a malformed id refuses the span (returned as-is, lowercased). */
function hexId(v: Json, path: string): string {
  return str(v, path).toLowerCase();
}

function u64(v: Json, path: string): bigint {
  if (v === undefined || v === null) return 0n;
  let n: bigint;
  if (typeof v === 'bigint') n = v;
  else if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw bad(path, 'expected an unsigned integer');
    n = BigInt(v);
  } else if (typeof v === 'string' && DECIMAL_U64_RE.test(v)) n = BigInt(v);
  else throw bad(path, 'expected an unsigned 64-bit integer');
  if (n < 0n || n > U64_MAX) throw bad(path, 'out of range for fixed64');
  return n;
}

function i64(v: Json, path: string): bigint {
  let n: bigint;
  if (typeof v === 'bigint') n = v;
  else if (typeof v === 'number' && Number.isInteger(v)) n = BigInt(v);
  else if (typeof v === 'string' && DECIMAL_I64_RE.test(v)) n = BigInt(v);
  else throw bad(path, 'expected a 64-bit integer');
  if (n < I64_MIN || n > I64_MAX) throw bad(path, 'out of range for int64');
  return n;
}

function double(v: Json, path: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v === 'NaN') return Number.NaN;
  if (v === 'Infinity') return Number.POSITIVE_INFINITY;
  if (v === '-Infinity') return Number.NEGATIVE_INFINITY;
  throw bad(path, 'expected a double');
}

function int32(v: Json, path: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) {
    throw bad(path, 'expected an integer enum value');
  }
  return v;
}

const ANY_VALUE_FIELDS = [
  'stringValue',
  'boolValue',
  'intValue',
  'doubleValue',
  'arrayValue',
  'kvlistValue',
  'bytesValue',
] as const;

function anyValue(v: Json, path: string, depth: number, limits: DecodeLimits): AttrValue {
  if (v === undefined || v === null) return null;
  const o = object(v, path);
  let field: (typeof ANY_VALUE_FIELDS)[number] | undefined;
  for (const name of ANY_VALUE_FIELDS) {
    if (o[name] === undefined || o[name] === null) continue;
    if (field !== undefined) throw bad(path, `both ${field} and ${name} set`);
    field = name;
  }
  const p = `${path}.${field ?? ''}`;
  switch (field) {
    case undefined:
      return null;
    case 'stringValue': {
      const s = str(o.stringValue, p);
      checkValueLength(s.length, limits);
      return s;
    }
    case 'boolValue':
      if (typeof o.boolValue !== 'boolean') throw bad(p, 'expected a boolean');
      return o.boolValue;
    case 'intValue':
      return i64(o.intValue, p);
    case 'doubleValue':
      return double(o.doubleValue, p);
    case 'bytesValue': {
      const s = str(o.bytesValue, p);
      if (!BASE64_RE.test(s)) throw bad(p, 'expected base64');
      checkValueLength((s.length * 3) >> 2, limits);
      return new Uint8Array(Buffer.from(s, 'base64'));
    }
    case 'arrayValue': {
      const values = list(object(o.arrayValue, p).values, `${p}.values`);
      checkList(values.length, depth + 1, limits);
      return values.map((item, i) => anyValue(item, `${p}.values[${i}]`, depth + 1, limits));
    }
    case 'kvlistValue': {
      const values = list(object(o.kvlistValue, p).values, `${p}.values`);
      checkList(values.length, depth + 1, limits);
      return keyValues(values, `${p}.values`, depth + 1, limits);
    }
  }
}

function keyValues(
  kvs: readonly Json[],
  path: string,
  depth: number,
  limits: DecodeLimits,
): AttrMap {
  const out: AttrMap = new Map();
  for (let i = 0; i < kvs.length; i++) {
    const p = `${path}[${i}]`;
    const kv = object(kvs[i], p);
    const key = str(kv.key, `${p}.key`);
    checkKey(key, limits);
    // Duplicate keys are invalid OTLP; keeping the last one is the common receiver behaviour.
    out.set(key, anyValue(kv.value, `${p}.value`, depth, limits));
  }
  return out;
}

function attributes(v: Json, path: string, limits: DecodeLimits): AttrMap {
  const kvs = list(v, path);
  checkCount(kvs.length, limits);
  return keyValues(kvs, path, 0, limits);
}

/** Parses the body text; JSON syntax errors become OtlpDecodeError. */
export function parseOtlpJson(text: string): Json {
  try {
    return LONG_NUMBER_RE.test(text)
      ? JSON.parse(text, exactReviver as (this: unknown, key: string, value: unknown) => unknown)
      : JSON.parse(text);
  } catch (err) {
    throw new OtlpDecodeError('json', '$', 'not valid JSON', { cause: err });
  }
}

export function decodeJsonRequest(text: string, options: DecodeOptions = {}): DecodeResult {
  return runSteps(decodeJsonRequestSteps(text, options));
}

/** {@link decodeJsonRequest} in steps for the receiver's turns: the parse, then STEP_SPANS spans
 * a step. */
export function* decodeJsonRequestSteps(
  text: string,
  options: DecodeOptions = {},
): Generator<void, DecodeResult, void> {
  const body = parseOtlpJson(text);
  yield;
  return yield* decodeJsonValueSteps(body, options);
}

/** Decodes an already parsed OTLP/JSON ExportTraceServiceRequest. */
export function decodeJsonValue(body: Json, options: DecodeOptions = {}): DecodeResult {
  return runSteps(decodeJsonValueSteps(body, options));
}

function* decodeJsonValueSteps(
  body: Json,
  options: DecodeOptions,
): Generator<void, DecodeResult, void> {
  const limits = options.limits ?? DEFAULT_DECODE_LIMITS;
  const result: DecodeResult = { spans: [], rejected: new Map() };
  let decoded = 0;
  const resourceSpans = list(object(body, '$').resourceSpans, '$.resourceSpans');
  for (let r = 0; r < resourceSpans.length; r++) {
    const rPath = `$.resourceSpans[${r}]`;
    const rs = object(resourceSpans[r], rPath);
    const scopeSpans = list(rs.scopeSpans, `${rPath}.scopeSpans`);
    let resourceAttributes: AttrMap | null;
    try {
      const resource = rs.resource === undefined || rs.resource === null ? {} : rs.resource;
      resourceAttributes = attributes(
        object(resource, `${rPath}.resource`).attributes,
        `${rPath}.resource.attributes`,
        limits,
      );
    } catch (err) {
      if (!(err instanceof AttributeLimitExceeded)) throw err;
      resourceAttributes = null;
    }
    for (let s = 0; s < scopeSpans.length; s++) {
      const sPath = `${rPath}.scopeSpans[${s}]`;
      const spans = list(object(scopeSpans[s], sPath).spans, `${sPath}.spans`);
      if (resourceAttributes === null) {
        countReject(result.rejected, 'attribute_limit', spans.length);
        continue;
      }
      for (let i = 0; i < spans.length; i++) {
        decodeSpan(spans[i], `${sPath}.spans[${i}]`, resourceAttributes, limits, options, result);
        if (++decoded % STEP_SPANS === 0) yield;
      }
    }
  }
  return result;
}

function decodeSpan(
  v: Json,
  path: string,
  resourceAttributes: AttrMap,
  limits: DecodeLimits,
  options: DecodeOptions,
  result: DecodeResult,
): void {
  const o = object(v, path);
  const traceId = hexId(o.traceId, `${path}.traceId`);
  const spanId = hexId(o.spanId, `${path}.spanId`);
  const parentSpanId = hexId(o.parentSpanId, `${path}.parentSpanId`);
  const name = str(o.name, `${path}.name`);
  const kind = int32(o.kind, `${path}.kind`);
  const startNs = u64(o.startTimeUnixNano, `${path}.startTimeUnixNano`);
  const endNs = u64(o.endTimeUnixNano, `${path}.endTimeUnixNano`);
  const statusCode =
    o.status === undefined || o.status === null
      ? 0
      : int32(object(o.status, `${path}.status`).code, `${path}.status.code`);
  let attrs: AttrMap;
  try {
    attrs = attributes(o.attributes, `${path}.attributes`, limits);
    checkValueLength(name.length, limits);
  } catch (err) {
    if (!(err instanceof AttributeLimitExceeded)) throw err;
    countReject(result.rejected, 'attribute_limit');
    return;
  }
  acceptSpan(
    result,
    { traceId, spanId, parentSpanId, name, kind, startNs, endNs, statusCode },
    attrs,
    resourceAttributes,
    limits,
    options.nowNs,
  );
}
