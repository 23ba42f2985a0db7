// OTLP/protobuf ExportTraceServiceRequest → SpanRecord[] straight from the wire, without
// protobufjs's message objects, Longs and byte copies (PERFORMANCE.md, "the wire decoder").
// It takes only the plain shape exporters send. Anything else (a field number 0, groups,
// over-long varints, invalid UTF-8, a singular message sent twice, which protobuf merges, two
// members of one oneof, nesting deeper than any accepted attribute, a truncated message) makes
// it give up, and the caller decodes the request with protobufjs instead, which gives that
// input its exact result or error. decode-protobuf-wire.test.ts checks that both agree.
import { isUtf8 } from 'node:buffer';
import { acceptSpan, type AttrMap } from './span-checks.ts';
import type { AttrValue, DecodeLimits, DecodeResult } from './types.ts';
import { STEP_SPANS } from './steps.ts';
import { countReject } from './types.ts';

/** Thrown inside, caught by decodeWireSteps: this input is for the general decoder. One
 * instance, without a stack: giving up is not an error. */
const NOT_PLAIN = Symbol('not plain');

// Wire types.
const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const FIXED32 = 5;

/** Deeper AnyValue nesting is refused by any limit we run with; the general decoder takes it. */
const MAX_PLAIN_DEPTH = 16;

const REPLACEMENT_CHAR = '\uFFFD';

class Wire {
  readonly buf: Buffer;
  pos = 0;

  constructor(buf: Buffer) {
    this.buf = buf;
  }

  /** A varint of at most 5 bytes and 32 bits (tags, lengths, enums, bools). */
  u32(end: number): number {
    const buf = this.buf;
    let value = 0;
    for (let shift = 0; shift < 32; shift += 7) {
      if (this.pos >= end) throw NOT_PLAIN;
      const b = buf[this.pos++] as number;
      value += (b & 127) * 2 ** shift;
      if (b < 128) {
        if (value > 0xffffffff) throw NOT_PLAIN;
        return value;
      }
    }
    throw NOT_PLAIN;
  }

  /** A varint of up to 10 bytes, modulo 2^64, as protobuf reads int64. */
  u64(end: number): bigint {
    const buf = this.buf;
    let low = 0;
    for (let i = 0; i < 7; i++) {
      if (this.pos >= end) throw NOT_PLAIN;
      const b = buf[this.pos++] as number;
      low += (b & 127) * 2 ** (7 * i);
      if (b < 128) return BigInt(low);
    }
    let value = BigInt(low);
    for (let i = 7; i < 10; i++) {
      if (this.pos >= end) throw NOT_PLAIN;
      const b = buf[this.pos++] as number;
      value |= BigInt(b & 127) << BigInt(7 * i);
      if (b < 128) return BigInt.asUintN(64, value);
    }
    throw NOT_PLAIN;
  }

  /** The end of a length-delimited field whose length is next. */
  len(end: number): number {
    const n = this.u32(end);
    const stop = this.pos + n;
    if (stop > end) throw NOT_PLAIN;
    return stop;
  }

  /** Valid UTF-8 only, as protobufjs verifies it (a byte-order mark is kept). One call into
   * Buffer's C++ per string: the agent runs without an optimising compiler, where a JavaScript
   * loop over the bytes costs more (PERFORMANCE.md, "the wire decoder"). */
  str(end: number): string {
    const stop = this.len(end);
    const s = this.buf.toString('utf8', this.pos, stop);
    if (s.includes(REPLACEMENT_CHAR) && !isUtf8(this.buf.subarray(this.pos, stop))) {
      throw NOT_PLAIN;
    }
    this.pos = stop;
    return s;
  }

  skip(wireType: number, end: number): void {
    let stop: number;
    if (wireType === VARINT) {
      this.u64(end);
      return;
    }
    if (wireType === FIXED64) stop = this.pos + 8;
    else if (wireType === FIXED32) stop = this.pos + 4;
    else if (wireType === LEN) stop = this.len(end);
    else throw NOT_PLAIN;
    if (stop > end) throw NOT_PLAIN;
    this.pos = stop;
  }

  /** The next tag; field number 0 is invalid. */
  tag(end: number): number {
    const t = this.u32(end);
    if (t >>> 3 === 0) throw NOT_PLAIN;
    return t;
  }
}

/** Attributes being read, and whether a decode limit refused them. */
interface AttrRead {
  readonly map: AttrMap;
  overLimit: boolean;
}

function anyValue(w: Wire, end: number, depth: number, limits: DecodeLimits, r: AttrRead) {
  let value: AttrValue = null;
  let set = false;
  while (w.pos < end) {
    const t = w.tag(end);
    const field = t >>> 3;
    const type = t & 7;
    const expected = field === 2 || field === 3 ? VARINT : field === 4 ? FIXED64 : LEN;
    if (field > 7 || type !== expected) {
      w.skip(type, end);
      continue;
    }
    if (set) throw NOT_PLAIN;
    set = true;
    switch (field) {
      case 1:
        value = w.str(end);
        if (value.length > limits.maxValueLength) r.overLimit = true;
        break;
      case 2:
        // protobuf reads a bool as a 32-bit varint.
        value = w.u32(end) !== 0;
        break;
      case 3:
        value = BigInt.asIntN(64, w.u64(end));
        break;
      case 4:
        if (w.pos + 8 > end) throw NOT_PLAIN;
        value = w.buf.readDoubleLE(w.pos);
        w.pos += 8;
        break;
      case 7: {
        const stop = w.len(end);
        // A copy, so a retained attribute does not pin the whole request buffer.
        value = new Uint8Array(w.buf.subarray(w.pos, stop));
        w.pos = stop;
        if (value.length > limits.maxValueLength) r.overLimit = true;
        break;
      }
      default: {
        const stop = w.len(end);
        value =
          field === 5 ? list(w, stop, depth + 1, limits, r) : kvList(w, stop, depth + 1, limits, r);
      }
    }
  }
  return value;
}

/** An ArrayValue's or KeyValueList's repeated field 1, each element decoded by `item`. */
function repeated<T>(w: Wire, end: number, item: (stop: number) => T): T[] {
  const out: T[] = [];
  while (w.pos < end) {
    const t = w.tag(end);
    if (t !== ((1 << 3) | LEN)) {
      w.skip(t & 7, end);
      continue;
    }
    out.push(item(w.len(end)));
  }
  return out;
}

function list(w: Wire, end: number, depth: number, limits: DecodeLimits, r: AttrRead): AttrValue[] {
  if (depth > MAX_PLAIN_DEPTH) throw NOT_PLAIN;
  const values = repeated(w, end, (stop) => {
    const v = anyValue(w, stop, depth, limits, r);
    w.pos = stop;
    return v;
  });
  if (depth > limits.maxDepth || values.length > limits.maxListLength) r.overLimit = true;
  return values;
}

function kvList(w: Wire, end: number, depth: number, limits: DecodeLimits, r: AttrRead): AttrMap {
  if (depth > MAX_PLAIN_DEPTH) throw NOT_PLAIN;
  const inner: AttrRead = { map: new Map(), overLimit: false };
  const count = keyValues(w, end, depth, limits, inner);
  if (inner.overLimit || depth > limits.maxDepth || count > limits.maxListLength) {
    r.overLimit = true;
  }
  return inner.map;
}

/** The KeyValues (field 1) of the message ending at `end` into r.map; their count. */
function keyValues(w: Wire, end: number, depth: number, limits: DecodeLimits, r: AttrRead) {
  let count = 0;
  while (w.pos < end) {
    const t = w.tag(end);
    if (t !== ((1 << 3) | LEN)) {
      w.skip(t & 7, end);
      continue;
    }
    keyValue(w, w.len(end), depth, limits, r);
    count++;
  }
  return count;
}

function keyValue(w: Wire, end: number, depth: number, limits: DecodeLimits, r: AttrRead): void {
  let key = '';
  let value: AttrValue = null;
  let valueSeen = false;
  while (w.pos < end) {
    const t = w.tag(end);
    if (t === ((1 << 3) | LEN)) key = w.str(end);
    else if (t === ((2 << 3) | LEN)) {
      // A second value would be merged into the first.
      if (valueSeen) throw NOT_PLAIN;
      valueSeen = true;
      const stop = w.len(end);
      value = anyValue(w, stop, depth, limits, r);
      w.pos = stop;
    } else w.skip(t & 7, end);
  }
  if (key.length > limits.maxKeyLength) r.overLimit = true;
  r.map.set(key, value);
}

function resource(w: Wire, end: number, limits: DecodeLimits): AttrMap | null {
  const r: AttrRead = { map: new Map(), overLimit: false };
  let count = 0;
  while (w.pos < end) {
    const t = w.tag(end);
    if (t === ((1 << 3) | LEN)) {
      keyValue(w, w.len(end), 0, limits, r);
      count++;
    } else if (t === ((2 << 3) | VARINT)) w.u32(end);
    else w.skip(t & 7, end);
  }
  return r.overLimit || count > limits.maxAttributes ? null : r.map;
}

function hexId(w: Wire, end: number): string {
  const stop = w.len(end);
  const id = w.buf.toString('hex', w.pos, stop);
  w.pos = stop;
  return id;
}

function fixed64(w: Wire, end: number): bigint {
  if (w.pos + 8 > end) throw NOT_PLAIN;
  const v = w.buf.readBigUInt64LE(w.pos);
  w.pos += 8;
  return v;
}

function statusCode(w: Wire, end: number): number {
  let code = 0;
  while (w.pos < end) {
    const t = w.tag(end);
    if (t === ((3 << 3) | VARINT)) code = w.u32(end) | 0;
    else w.skip(t & 7, end);
  }
  return code;
}

function span(
  w: Wire,
  end: number,
  resourceAttributes: AttrMap | null,
  limits: DecodeLimits,
  nowNs: bigint | undefined,
  result: DecodeResult,
): void {
  const r: AttrRead = { map: new Map(), overLimit: false };
  let count = 0;
  let traceId = '';
  let spanId = '';
  let parentSpanId = '';
  let name = '';
  let kind = 0;
  let startNs = 0n;
  let endNs = 0n;
  let status = 0;
  let statusSeen = false;
  while (w.pos < end) {
    const t = w.tag(end);
    switch (t) {
      case (1 << 3) | LEN:
        traceId = hexId(w, end);
        break;
      case (2 << 3) | LEN:
        spanId = hexId(w, end);
        break;
      case (4 << 3) | LEN:
        parentSpanId = hexId(w, end);
        break;
      case (5 << 3) | LEN:
        name = w.str(end);
        break;
      case (6 << 3) | VARINT:
        kind = w.u32(end) | 0;
        break;
      case (7 << 3) | FIXED64:
        startNs = fixed64(w, end);
        break;
      case (8 << 3) | FIXED64:
        endNs = fixed64(w, end);
        break;
      case (9 << 3) | LEN:
        keyValue(w, w.len(end), 0, limits, r);
        count++;
        break;
      case (15 << 3) | LEN: {
        if (statusSeen) throw NOT_PLAIN;
        statusSeen = true;
        const stop = w.len(end);
        status = statusCode(w, stop);
        w.pos = stop;
        break;
      }
      default:
        w.skip(t & 7, end);
    }
  }
  if (resourceAttributes === null) return;
  if (r.overLimit || count > limits.maxAttributes || name.length > limits.maxValueLength) {
    countReject(result.rejected, 'attribute_limit');
    return;
  }
  const wire = { traceId, spanId, parentSpanId, name, kind, startNs, endNs, statusCode: status };
  acceptSpan(result, wire, r.map, resourceAttributes, limits, nowNs);
}

/** Skips a field of a ResourceSpans or ScopeSpans; their schema_url (3) must be UTF-8 too. */
function skipOrVerify(w: Wire, t: number, end: number): void {
  if (t === ((3 << 3) | LEN)) w.str(end);
  else w.skip(t & 7, end);
}

/** Where a ResourceSpans's resource is, found before its spans so they can be given it. */
function resourceOf(w: Wire, end: number, limits: DecodeLimits): AttrMap | null {
  const at = w.pos;
  let found: AttrMap | null = new Map();
  let seen = false;
  while (w.pos < end) {
    const t = w.tag(end);
    if (t !== ((1 << 3) | LEN)) {
      w.skip(t & 7, end);
      continue;
    }
    // A second resource would be merged into the first.
    if (seen) throw NOT_PLAIN;
    seen = true;
    const stop = w.len(end);
    found = resource(w, stop, limits);
    w.pos = stop;
  }
  w.pos = at;
  return found;
}

/**
 * Decodes `body` in steps of STEP_SPANS spans, or returns undefined when the request is not of
 * the plain shape this decoder takes (nothing has been taken from it then).
 */
export function* decodeWireSteps(
  body: Uint8Array,
  limits: DecodeLimits,
  nowNs: bigint | undefined,
): Generator<void, DecodeResult | undefined, void> {
  const w = new Wire(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  const result: DecodeResult = { spans: [], rejected: new Map() };
  const end = body.byteLength;
  let decoded = 0;
  try {
    while (w.pos < end) {
      const t = w.tag(end);
      if (t !== ((1 << 3) | LEN)) {
        w.skip(t & 7, end);
        continue;
      }
      const rsEnd = w.len(end);
      const resourceAttributes = resourceOf(w, rsEnd, limits);
      while (w.pos < rsEnd) {
        const rt = w.tag(rsEnd);
        if (rt !== ((2 << 3) | LEN)) {
          skipOrVerify(w, rt, rsEnd);
          continue;
        }
        const ssEnd = w.len(rsEnd);
        let spans = 0;
        while (w.pos < ssEnd) {
          const st = w.tag(ssEnd);
          if (st !== ((2 << 3) | LEN)) {
            skipOrVerify(w, st, ssEnd);
            continue;
          }
          const spanEnd = w.len(ssEnd);
          span(w, spanEnd, resourceAttributes, limits, nowNs, result);
          w.pos = spanEnd;
          spans++;
          if (++decoded % STEP_SPANS === 0) yield;
        }
        if (resourceAttributes === null) countReject(result.rejected, 'attribute_limit', spans);
      }
    }
  } catch (err) {
    if (err === NOT_PLAIN) return undefined;
    throw err;
  }
  return result;
}
