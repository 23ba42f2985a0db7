// 10,000 malformed OTLP payloads through the real receiver over HTTP: each gets the expected
// status, the process keeps serving, and heap growth stays bounded.
import v8 from 'node:v8';
import vm from 'node:vm';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionIngest } from '../sessions/ingest.ts';
import { Settlement } from '../sessions/settlement.ts';
import { decodeExportResponseProtobuf, encodeExportRequest } from './decode-protobuf.ts';
import { makeTraceBatch } from './test-payloads.ts';
import { startTestReceiver } from './test-server.ts';
import type { TestReceiver } from './test-server.ts';
import { rng } from '../../../test/support/rng.ts';

const PAYLOADS = 10_000;

// vitest runs without --expose-gc; enabling the flag at runtime still hands out `gc`, so the
// bound below is on retained heap rather than on garbage not yet collected.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const CONCURRENCY = 32;
const MAX_BODY = 256 * 1024;

interface Case {
  readonly kind: string;
  readonly body: Uint8Array | string;
  readonly type: string;
  readonly gzip?: boolean;
  readonly statuses: readonly number[];
  /** Exact rejectedSpans expected with a 200. */
  readonly rejected?: number;
}

type JsonSpan = Record<string, unknown> & { attributes: unknown[] };
type Batch = {
  resourceSpans: { resource: { attributes: unknown[] }; scopeSpans: { spans: JsonSpan[] }[] }[];
};

function batch(seed: number, spans = 5): Batch {
  return makeTraceBatch({ spans, seed, sessions: 3 }) as unknown as Batch;
}

function must<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('test payload shape changed');
  return value;
}

function spansOf(b: Batch): JsonSpan[] {
  return must(must(b.resourceSpans[0]).scopeSpans[0]).spans;
}

function firstSpan(b: Batch): JsonSpan {
  return must(spansOf(b)[0]);
}

/** AnyValue nested `depth` levels, as text: JSON.stringify itself would overflow the stack. */
function nestedText(depth: number): string {
  const open = '{"arrayValue":{"values":[{"kvlistValue":{"values":[{"key":"k","value":';
  const close = '}]}}]}}';
  const pairs = Math.ceil(depth / 2);
  return open.repeat(pairs) + '{"stringValue":"leaf"}' + close.repeat(pairs);
}

function deepProtobuf(depth: number): Uint8Array {
  // AnyValue{array_value: ArrayValue{values: [AnyValue{…}]}} built bottom-up as raw bytes.
  let inner: number[] = [];
  for (let i = 0; i < depth; i++) {
    const arrayValue = [0x0a, ...varint(inner.length), ...inner];
    inner = [0x2a, ...varint(arrayValue.length), ...arrayValue];
  }
  const kv = [0x0a, 0x01, 0x78, 0x12, ...varint(inner.length), ...inner];
  const b = batch(1, 1);
  const base = encodeExportRequest(b);
  // Append the attribute to the span by re-encoding the span message: simpler to wrap it as a
  // resource attribute, which the decoder walks the same way.
  const resource = [0x0a, ...varint(kv.length), ...kv];
  const rs = [0x0a, ...varint(resource.length), ...resource];
  return new Uint8Array([...base, 0x0a, ...varint(rs.length), ...rs]);
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

const WRONG_TYPES: ((b: Batch) => void)[] = [
  (b) => (firstSpan(b).traceId = 12345),
  (b) => (firstSpan(b).startTimeUnixNano = 1.5),
  (b) => (firstSpan(b).startTimeUnixNano = '-10'),
  (b) => (firstSpan(b).endTimeUnixNano = { n: 1 }),
  (b) => (firstSpan(b).kind = 'SERVER'),
  (b) => (firstSpan(b).attributes = { key: 'x' } as unknown as unknown[]),
  (b) => (firstSpan(b).attributes[0] = { key: 7, value: { stringValue: 'x' } }),
  (b) => (firstSpan(b).attributes[0] = { key: 'x', value: { stringValue: 5 } }),
  (b) => (firstSpan(b).attributes[0] = { key: 'x', value: { intValue: 'abc' } }),
  (b) => (firstSpan(b).attributes[0] = { key: 'x', value: { boolValue: 'yes' } }),
  (b) => (firstSpan(b).name = ['n']),
  (b) => ((b as unknown as Record<string, unknown>).resourceSpans = 'x'),
  (b) => (must(b.resourceSpans[0]).scopeSpans = 3 as unknown as []),
  (b) => (must(must(b.resourceSpans[0]).scopeSpans[0]).spans = {} as unknown as []),
  (b) => (must(b.resourceSpans[0]).resource.attributes = [null]),
];

const BAD_IDS: ((s: JsonSpan) => void)[] = [
  (s) => (s.traceId = '0'.repeat(32)),
  (s) => (s.spanId = '0'.repeat(16)),
  (s) => (s.traceId = 'abcd'),
  (s) => (s.spanId = ''),
  (s) => (s.spanId = 'ab'.repeat(9)),
  (s) => (s.parentSpanId = '00'.repeat(8)),
];

function makeCase(i: number): Case {
  const r = rng(i + 1);
  const int = (n: number) => Math.floor(r() * n);
  const b = batch(i + 1);
  const json = JSON.stringify(b);
  switch (i % 12) {
    case 0:
      return {
        kind: 'json-truncated',
        body: json.slice(0, 1 + int(json.length - 1)),
        type: 'application/json',
        statuses: [400],
      };
    case 1: {
      const pb = encodeExportRequest(b);
      return {
        kind: 'pb-truncated',
        body: pb.slice(0, int(pb.length)),
        type: 'application/x-protobuf',
        statuses: [200, 400],
      };
    }
    case 2:
      must(WRONG_TYPES[int(WRONG_TYPES.length)])(b);
      return {
        kind: 'json-wrong-type',
        body: JSON.stringify(b),
        type: 'application/json',
        statuses: [400],
      };
    case 3: {
      const pb = encodeExportRequest(b);
      for (let k = 0; k < 1 + int(4); k++) pb[int(pb.length)] = int(256);
      return { kind: 'pb-mutated', body: pb, type: 'application/x-protobuf', statuses: [200, 400] };
    }
    case 4:
    case 5: {
      const spans = spansOf(b);
      const n = 1 + int(spans.length);
      for (let k = 0; k < n; k++) {
        must(spans[k]).attributes =
          r() < 0.5
            ? [{ key: 'huge', value: { stringValue: 'x'.repeat(16_385 + int(20_000)) } }]
            : Array.from({ length: 129 + int(300) }, (_, a) => ({
                key: `k${a}`,
                value: { intValue: String(a) },
              }));
      }
      return i % 12 === 4
        ? {
            kind: 'json-huge-attrs',
            body: JSON.stringify(b),
            type: 'application/json',
            statuses: [200],
            rejected: n,
          }
        : {
            kind: 'pb-huge-attrs',
            body: encodeExportRequest(b),
            type: 'application/x-protobuf',
            statuses: [200],
            rejected: n,
          };
    }
    case 6:
    case 7: {
      const spans = spansOf(b);
      const n = 1 + int(spans.length);
      for (let k = 0; k < n; k++) must(BAD_IDS[int(BAD_IDS.length)])(must(spans[k]));
      if (i % 12 === 6) {
        if (r() < 0.5) firstSpan(b).traceId = 'zz'.repeat(16);
        return {
          kind: 'json-bad-ids',
          body: JSON.stringify(b),
          type: 'application/json',
          statuses: [200],
          rejected: n,
        };
      }
      return {
        kind: 'pb-bad-ids',
        body: encodeExportRequest(b),
        type: 'application/x-protobuf',
        statuses: [200],
        rejected: n,
      };
    }
    case 8: {
      // Into the resource's attributes (the first in the text): every span of it is refused.
      // Nesting deeper than V8's JSON.parse handles is a 400 instead.
      const deep = `"attributes":[{"key":"deep","value":${nestedText(9 + int(3000))}},`;
      const body = json.replace('"attributes":[', deep);
      return {
        kind: 'json-deep',
        body,
        type: 'application/json',
        statuses: [200, 400],
        rejected: 5,
      };
    }
    case 9: {
      const depth = 9 + int(150);
      // protobufjs stops at 100 nested messages (400); below that the AnyValue bound refuses.
      return {
        kind: 'pb-deep',
        body: deepProtobuf(depth),
        type: 'application/x-protobuf',
        statuses: depth * 2 + 3 > 100 ? [400] : [200],
      };
    }
    case 10: {
      const bytes = new Uint8Array(1 + int(512)).map(() => int(256));
      if (r() < 0.5) {
        bytes[0] = 0x23; // '#': never valid JSON
        return { kind: 'json-garbage', body: bytes, type: 'application/json', statuses: [400] };
      }
      return {
        kind: 'pb-garbage',
        body: bytes,
        type: 'application/x-protobuf',
        statuses: [200, 400],
      };
    }
    default: {
      const which = int(3);
      if (which === 0)
        return {
          kind: 'gzip-garbage',
          body: json,
          type: 'application/json',
          gzip: true,
          statuses: [400],
        };
      if (which === 1) {
        return {
          kind: 'gzip-bomb',
          body: gzipSync(Buffer.alloc(MAX_BODY + 1 + int(MAX_BODY), 0x20)),
          type: 'application/json',
          gzip: true,
          statuses: [413],
        };
      }
      return {
        kind: 'oversize',
        body: json.padEnd(MAX_BODY + 1 + int(1000), ' '),
        type: 'application/json',
        statuses: [413],
      };
    }
  }
}

let rx: TestReceiver;
beforeAll(async () => {
  const pod = {
    uid: 'u',
    namespace: 'team-a',
    name: 'p',
    podIPs: ['127.0.0.1'],
    hostNetwork: false,
  };
  const ingest = new SessionIngest({
    pods: {
      podsByIp: (ip) => (ip === '127.0.0.1' ? [pod] : []),
      podByUid: (uid) => (uid === 'u' ? pod : undefined),
    },
    settlement: new Settlement<{ cpuNs: bigint }>(),
    clock: () => 1_760_000_000_000_000_000n,
  });
  // Every request in flight at once is answered, not refused: load shedding is tested apart.
  rx = await startTestReceiver({ sink: ingest, maxBodyBytes: MAX_BODY, maxInFlight: CONCURRENCY });
});
afterAll(() => rx.close());

async function send(c: Case): Promise<{ status: number; rejected?: bigint }> {
  const headers: Record<string, string> = { 'content-type': c.type };
  if (c.gzip) headers['content-encoding'] = 'gzip';
  const res = await fetch(rx.url, { method: 'POST', body: c.body, headers });
  const body = new Uint8Array(await res.arrayBuffer());
  if (res.status !== 200) return { status: res.status };
  if (c.type === 'application/json') {
    const parsed = JSON.parse(Buffer.from(body).toString('utf8')) as {
      partialSuccess?: { rejectedSpans: string };
    };
    return { status: 200, rejected: BigInt(parsed.partialSuccess?.rejectedSpans ?? '0') };
  }
  return { status: 200, rejected: decodeExportResponseProtobuf(body)?.rejectedSpans ?? 0n };
}

describe('malformed OTLP payloads over HTTP', () => {
  it(
    `answers ${PAYLOADS} of them correctly with bounded memory`,
    { timeout: 300_000 },
    async () => {
      // Warm up so lazily compiled code and pools are not counted as growth.
      for (let i = 0; i < 200; i++) await send(makeCase(PAYLOADS + i));
      gc();
      const heapBefore = process.memoryUsage().heapUsed;
      const failures: string[] = [];
      const seen = new Map<string, number>();
      let next = 0;
      let peak = heapBefore;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          for (let i = next++; i < PAYLOADS; i = next++) {
            const c = makeCase(i);
            seen.set(c.kind, (seen.get(c.kind) ?? 0) + 1);
            const got = await send(c);
            if (!c.statuses.includes(got.status)) failures.push(`#${i} ${c.kind}: ${got.status}`);
            else if (
              got.status === 200 &&
              c.rejected !== undefined &&
              got.rejected !== BigInt(c.rejected)
            ) {
              failures.push(`#${i} ${c.kind}: rejected ${got.rejected} != ${c.rejected}`);
            }
            if (i % 500 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed);
          }
        }),
      );
      gc();
      const heapAfter = process.memoryUsage().heapUsed;
      const growthMiB = (heapAfter - heapBefore) / 2 ** 20;
      process.stdout.write(
        `fuzz: ${PAYLOADS} payloads, kinds ${JSON.stringify(Object.fromEntries(seen))}, heapUsed after GC ` +
          `${(heapBefore / 2 ** 20).toFixed(1)} → ${(heapAfter / 2 ** 20).toFixed(1)} MiB ` +
          `(peak sampled ${(peak / 2 ** 20).toFixed(1)} MiB)\n`,
      );
      expect(failures.slice(0, 20)).toEqual([]);
      // Still serving after everything above.
      expect(
        (
          await send({
            kind: 'ok',
            body: JSON.stringify(batch(7)),
            type: 'application/json',
            statuses: [200],
          })
        ).status,
      ).toBe(200);
      expect(growthMiB).toBeLessThan(32);
    },
  );
});
