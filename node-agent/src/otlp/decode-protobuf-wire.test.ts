// The wire decoder agrees with protobufjs: on random requests it takes them itself and returns
// what the general decoder returns; on hostile bytes the receiver's decoder (wire first, then
// protobufjs) returns or refuses exactly as protobufjs alone does.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeWireSteps } from './decode-protobuf-wire.ts';
import {
  decodeGeneralSteps,
  decodeProtobufRequestSteps,
  encodeExportRequest,
} from './decode-protobuf.ts';
import { runSteps } from './steps.ts';
import { makeTraceBatch } from './test-payloads.ts';
import type { DecodeLimits, DecodeOptions, DecodeResult } from './types.ts';
import { DEFAULT_DECODE_LIMITS, OtlpDecodeError } from './types.ts';

const TIGHT: DecodeLimits = {
  maxAttributes: 4,
  maxKeyLength: 12,
  maxValueLength: 10,
  maxListLength: 3,
  maxDepth: 2,
  maxFutureNs: 1_000n,
};

type Outcome = { readonly result: DecodeResult } | { readonly error: string };

function outcome(decode: () => DecodeResult): Outcome {
  try {
    return { result: decode() };
  } catch (err) {
    if (err instanceof OtlpDecodeError) return { error: err.message };
    throw err;
  }
}

function agree(body: Uint8Array, options: DecodeOptions): void {
  const receiver = outcome(() => runSteps(decodeProtobufRequestSteps(body, options)));
  const general = outcome(() => runSteps(decodeGeneralSteps(body, options)));
  expect(receiver).toEqual(general);
  // Maps compare by content; the order of the reasons is what the exporter reads.
  if ('result' in receiver && 'result' in general) {
    expect([...receiver.result.rejected]).toEqual([...general.result.rejected]);
  }
}

const hexId = (bytes: number) =>
  fc.oneof(
    fc
      .uint8Array({ minLength: bytes, maxLength: bytes })
      .map((b) => Buffer.from(b).toString('hex')),
    fc.uint8Array({ maxLength: bytes + 2 }).map((b) => Buffer.from(b).toString('hex')),
  );

const text = fc.oneof(
  fc.string({ maxLength: 14 }),
  fc.constantFrom('', 'chat', '\uFEFFbom', 'é✓😀'),
);

const anyValue: fc.Arbitrary<object> = fc.letrec<{ value: object }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({}),
    text.map((stringValue) => ({ stringValue })),
    fc.boolean().map((boolValue) => ({ boolValue })),
    fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }).map((n) => ({ intValue: String(n) })),
    fc.double().map((doubleValue) => ({ doubleValue })),
    fc
      .uint8Array({ maxLength: 12 })
      .map((b) => ({ bytesValue: Buffer.from(b).toString('base64') })),
    fc.array(tie('value'), { maxLength: 4 }).map((values) => ({ arrayValue: { values } })),
    fc
      .array(fc.record({ key: text, value: tie('value') }), { maxLength: 4 })
      .map((values) => ({ kvlistValue: { values } })),
  ),
})).value;

const keyValue = fc.record(
  {
    key: fc.oneof(text, fc.constantFrom('gen_ai.usage.input_tokens', 'session.id')),
    value: anyValue,
  },
  { requiredKeys: ['key'] },
);

const nanos = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map(String);

const span = fc.record(
  {
    traceId: hexId(16),
    spanId: hexId(8),
    parentSpanId: hexId(8),
    name: text,
    kind: fc.integer({ min: 0, max: 5 }),
    startTimeUnixNano: nanos,
    endTimeUnixNano: nanos,
    attributes: fc.array(keyValue, { maxLength: 6 }),
    status: fc.record({ code: fc.integer({ min: 0, max: 2 }), message: text }),
  },
  { requiredKeys: ['traceId', 'spanId'] },
);

const request = fc.record({
  resourceSpans: fc.array(
    fc.record(
      {
        resource: fc.record({ attributes: fc.array(keyValue, { maxLength: 5 }) }),
        scopeSpans: fc.array(
          fc.record({
            scope: fc.record({ name: text }),
            spans: fc.array(span, { maxLength: 4 }),
            schemaUrl: text,
          }),
          { maxLength: 3 },
        ),
        schemaUrl: text,
      },
      { requiredKeys: ['scopeSpans'] },
    ),
    { maxLength: 3 },
  ),
});

const limits = fc.constantFrom(DEFAULT_DECODE_LIMITS, TIGHT);
const nowNs = fc.option(fc.bigInt({ min: 0n, max: 1n << 64n }), { nil: undefined });

describe('the wire decoder', () => {
  it('takes random requests itself and returns what protobufjs returns', () => {
    fc.assert(
      fc.property(request, limits, nowNs, (req, lim, now) => {
        const body = encodeExportRequest(req);
        const options = { limits: lim, ...(now === undefined ? {} : { nowNs: now }) };
        const wire = runSteps(decodeWireSteps(body, lim, now));
        expect(wire).toEqual(runSteps(decodeGeneralSteps(body, options)));
      }),
      { numRuns: 400 },
    );
  });

  it('agrees with protobufjs on mutated, truncated and spliced bodies', () => {
    const mutation = fc.oneof(
      fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ cut: fc.nat() }),
      fc.record({ insertAt: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 6 }) }),
    );
    fc.assert(
      fc.property(
        request,
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        limits,
        (req, ms, lim) => {
          let body = Buffer.from(encodeExportRequest(req));
          for (const m of ms) {
            if (body.length === 0) break;
            if ('byte' in m) body[m.at % body.length] = m.byte;
            else if ('cut' in m) body = body.subarray(0, m.cut % body.length);
            else {
              const at = m.insertAt % body.length;
              body = Buffer.concat([body.subarray(0, at), m.bytes, body.subarray(at)]);
            }
          }
          agree(body, { limits: lim });
        },
      ),
      { numRuns: 600 },
    );
  });

  it('agrees with protobufjs on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => agree(bytes, {})),
      { numRuns: 500 },
    );
  });

  // Edge shapes (all but the first left to protobufjs), each with protobufjs's answer.
  const plain = Buffer.from(encodeExportRequest(makeTraceBatch({ spans: 2, podUid: 'p' })));
  const cases: Record<string, Uint8Array> = {
    'a second copy of the request (repeated fields append)': Buffer.concat([plain, plain]),
    'a group (wire type 3)': Buffer.concat([plain, Buffer.from([0x0b, 0x0c])]),
    'field number 0': Buffer.concat([plain, Buffer.from([0x00, 0x01])]),
    'an 11-byte varint': Buffer.concat([plain, Buffer.from([0x10, ...Array(10).fill(0x80), 0x01])]),
    'invalid UTF-8 in a key': Buffer.from(
      encodeExportRequest({
        resourceSpans: [{ resource: { attributes: [{ key: 'ab', value: {} }] } }],
      }),
    ).map((b, i, all) => (all[i - 1] === 2 && b === 0x61 ? 0xff : b)),
    'an AnyValue with two members': Buffer.from([
      0x0a, 0x0e, 0x0a, 0x0c, 0x0a, 0x0a, 0x0a, 0x01, 0x6b, 0x12, 0x05, 0x0a, 0x01, 0x78, 0x10,
      0x01,
    ]),
    'a resource sent twice': Buffer.from([0x0a, 0x04, 0x0a, 0x00, 0x0a, 0x00]),
  };
  for (const [name, body] of Object.entries(cases)) {
    it(`agrees with protobufjs on ${name}`, () => {
      agree(body, {});
      agree(body, { limits: TIGHT });
    });
  }
  it('takes the plain shape itself', () => {
    expect(runSteps(decodeWireSteps(plain, DEFAULT_DECODE_LIMITS, undefined))).toBeDefined();
    expect(
      runSteps(
        decodeWireSteps(
          cases['a group (wire type 3)'] as Uint8Array,
          DEFAULT_DECODE_LIMITS,
          undefined,
        ),
      ),
    ).toBeUndefined();
  });
});
