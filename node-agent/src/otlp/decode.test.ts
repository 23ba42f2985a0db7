import { describe, expect, it } from 'vitest';
import { decodeJsonRequest, decodeJsonRequestSteps, decodeJsonValue } from './decode-json.ts';
import {
  decodeProtobufRequest,
  decodeGeneralSteps,
  decodeProtobufRequestSteps,
  encodeExportRequest,
} from './decode-protobuf.ts';
import { STEP_SPANS } from './steps.ts';
import { makeTraceBatch } from './test-payloads.ts';
import { DEFAULT_DECODE_LIMITS, OtlpDecodeError } from './types.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

function request(span: Record<string, unknown>, resource: unknown[] = []) {
  return {
    resourceSpans: [{ resource: { attributes: resource }, scopeSpans: [{ spans: [span] }] }],
  };
}

function baseSpan(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    traceId: TRACE,
    spanId: SPAN,
    name: 'chat',
    kind: 3,
    startTimeUnixNano: '1760000000000000000',
    endTimeUnixNano: '1760000001250000000',
    attributes: [{ key: 'session.id', value: { stringValue: 's-7f3c2a' } }],
    ...over,
  };
}

/** Decodes with both encodings and checks they agree. */
function both(req: Record<string, unknown>) {
  const json = decodeJsonValue(req);
  const pb = decodeProtobufRequest(encodeExportRequest(req));
  expect(pb).toEqual(json);
  return json;
}

describe('OTLP decoding (JSON and protobuf agree)', () => {
  it('decodes the reference span', () => {
    const { spans, rejected } = both(
      request(baseSpan(), [{ key: 'k8s.pod.uid', value: { stringValue: 'u' } }]),
    );
    expect(rejected.size).toBe(0);
    expect(spans[0]).toMatchObject({
      traceId: TRACE,
      spanId: SPAN,
      kind: 3,
      startNs: 1_760_000_000_000_000_000n,
      endNs: 1_760_000_001_250_000_000n,
    });
    expect(spans[0]?.attributes.get('session.id')).toBe('s-7f3c2a');
    expect(spans[0]?.resourceAttributes.get('k8s.pod.uid')).toBe('u');
  });

  it('keeps a span status only when it is set, so a call can say it failed', () => {
    const error = both(request(baseSpan({ status: { code: 2, message: 'boom' } })));
    expect(error.spans[0]?.statusCode).toBe(2);
    const ok = both(request(baseSpan({ status: { code: 1 } })));
    expect(ok.spans[0]?.statusCode).toBe(1);
    expect(both(request(baseSpan())).spans[0]).not.toHaveProperty('statusCode');
  });

  it('decodes every AnyValue shape', () => {
    const attributes = [
      { key: 's', value: { stringValue: 'x' } },
      { key: 'b', value: { boolValue: true } },
      { key: 'i', value: { intValue: '-9223372036854775808' } },
      { key: 'd', value: { doubleValue: 1.5 } },
      { key: 'y', value: { bytesValue: 'AQI=' } },
      { key: 'a', value: { arrayValue: { values: [{ stringValue: 'q' }, { intValue: '1' }] } } },
      { key: 'k', value: { kvlistValue: { values: [{ key: 'z', value: { boolValue: false } }] } } },
      { key: 'e', value: {} },
    ];
    const attrs = both(request(baseSpan({ attributes }))).spans[0]?.attributes;
    expect(attrs?.get('i')).toBe(-(1n << 63n));
    expect(attrs?.get('y')).toEqual(new Uint8Array([1, 2]));
    expect(attrs?.get('a')).toEqual(['q', 1n]);
    expect(attrs?.get('k')).toEqual(new Map([['z', false]]));
    expect(attrs?.get('e')).toBe(null);
  });

  it('refuses single spans for bad ids, times and limits', () => {
    const cases: [Record<string, unknown>, string][] = [
      [baseSpan({ traceId: '0'.repeat(32) }), 'invalid_id'],
      [baseSpan({ spanId: '' }), 'invalid_id'],
      [baseSpan({ spanId: 'abcd' }), 'invalid_id'],
      [baseSpan({ traceId: TRACE.slice(2) }), 'invalid_id'],
      [baseSpan({ parentSpanId: '0000000000000000' }), 'invalid_id'],
      [baseSpan({ startTimeUnixNano: '0' }), 'invalid_time'],
      [baseSpan({ endTimeUnixNano: '1' }), 'invalid_time'],
      [
        baseSpan({
          attributes: Array.from({ length: 129 }, (_, i) => ({ key: `k${i}`, value: {} })),
        }),
        'attribute_limit',
      ],
      [
        baseSpan({ attributes: [{ key: 'x', value: { stringValue: 'x'.repeat(16_385) } }] }),
        'attribute_limit',
      ],
      [baseSpan({ attributes: [{ key: 'k'.repeat(257), value: {} }] }), 'attribute_limit'],
    ];
    for (const [span, reason] of cases) {
      const { spans, rejected } = both(request(span));
      expect(spans).toEqual([]);
      expect([...rejected]).toEqual([[reason, 1]]);
    }
  });

  it('bounds AnyValue nesting', () => {
    let value: Record<string, unknown> = { stringValue: 'leaf' };
    for (let i = 0; i < DEFAULT_DECODE_LIMITS.maxDepth; i++)
      value = { arrayValue: { values: [value] } };
    expect(both(request(baseSpan({ attributes: [{ key: 'n', value }] }))).spans).toHaveLength(1);
    value = { arrayValue: { values: [value] } };
    expect([...both(request(baseSpan({ attributes: [{ key: 'n', value }] }))).rejected]).toEqual([
      ['attribute_limit', 1],
    ]);
  });

  it('refuses future spans when given a clock', () => {
    const nowNs = 1_760_000_000_000_000_000n - 3_600_000_000_000n;
    expect([...decodeJsonValue(request(baseSpan()), { nowNs }).rejected]).toEqual([
      ['time_in_future', 1],
    ]);
  });

  it('refuses every span of a resource over the limits', () => {
    const resource = Array.from({ length: 200 }, (_, i) => ({ key: `r${i}`, value: {} }));
    expect([...both(request(baseSpan(), resource)).rejected]).toEqual([['attribute_limit', 1]]);
  });

  it('decodes a realistic batch identically', () => {
    expect(both(makeTraceBatch({ spans: 100, podUid: 'u' })).spans).toHaveLength(100);
  });
});

describe('OTLP/JSON specifics', () => {
  it('accepts uppercase hex ids, numbers for 64-bit fields, and keeps precision', () => {
    const text = JSON.stringify(request(baseSpan({ traceId: TRACE.toUpperCase() }))).replace(
      '"1760000000000000000"',
      '1760000000000000001',
    );
    const span = decodeJsonRequest(text).spans[0];
    expect(span?.traceId).toBe(TRACE);
    expect(span?.startNs).toBe(1_760_000_000_000_000_001n);
  });

  it('ignores unknown fields and snake_case names', () => {
    const req = {
      resourceSpans: [{ scopeSpans: [{ spans: [baseSpan({ extra: { deep: [1] } })] }], foo: 1 }],
      resource_spans: 'x',
    };
    expect(decodeJsonValue(req).spans).toHaveLength(1);
    expect(decodeJsonValue({ resource_spans: [] }).spans).toHaveLength(0);
  });

  it.each([
    ['not JSON', '{'],
    ['not an object', '[]'],
    ['resourceSpans not an array', '{"resourceSpans":{}}'],
    ['negative time', JSON.stringify(request(baseSpan({ startTimeUnixNano: '-1' })))],
    ['float time', JSON.stringify(request(baseSpan({ startTimeUnixNano: 1.5 })))],
    [
      'time beyond u64',
      JSON.stringify(request(baseSpan({ endTimeUnixNano: '18446744073709551616' }))),
    ],
    ['kind as a string', JSON.stringify(request(baseSpan({ kind: 'SPAN_KIND_SERVER' })))],
    ['traceId as a number', JSON.stringify(request(baseSpan({ traceId: 5 })))],
    [
      'two AnyValue fields',
      JSON.stringify(
        request(
          baseSpan({ attributes: [{ key: 'x', value: { stringValue: 'a', boolValue: true } }] }),
        ),
      ),
    ],
    [
      'intValue float',
      JSON.stringify(request(baseSpan({ attributes: [{ key: 'x', value: { intValue: 1.5 } }] }))),
    ],
  ])('refuses the payload: %s', (_name, text) => {
    expect(() => decodeJsonRequest(text)).toThrow(OtlpDecodeError);
  });
});

describe('OTLP/protobuf specifics', () => {
  it('refuses truncated and garbage bodies', () => {
    const full = encodeExportRequest(makeTraceBatch({ spans: 3 }));
    expect(() => decodeProtobufRequest(full.subarray(0, full.length - 3))).toThrow(OtlpDecodeError);
    expect(() => decodeProtobufRequest(new Uint8Array([0xff, 0xff, 0xff]))).toThrow(
      OtlpDecodeError,
    );
    expect(decodeProtobufRequest(new Uint8Array()).spans).toEqual([]);
  });
});

describe('OTLP decoding in steps', () => {
  it('yields every STEP_SPANS spans (and after a whole-message parse), with the same result', () => {
    const req = makeTraceBatch({ spans: 2 * STEP_SPANS + 1 });
    const text = JSON.stringify(req);
    const body = encodeExportRequest(req);
    for (const [steps, expected] of [
      [decodeJsonRequestSteps(text), 3],
      // Straight from the wire: no parse of the whole message first.
      [decodeProtobufRequestSteps(body), 2],
      [decodeGeneralSteps(body), 3],
    ] as const) {
      let yields = 0;
      let step = steps.next();
      for (; step.done !== true; step = steps.next()) yields++;
      expect(yields).toBe(expected);
      expect(step.value).toEqual(decodeJsonRequest(text));
    }
  });
});
