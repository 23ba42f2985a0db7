import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeExportResponseProtobuf,
  decodeStatusProtobuf,
  encodeExportRequest,
} from './decode-protobuf.ts';
import { otlpRouter, SinkOverloadedError } from './receiver.ts';
import type { SpanSink, SpanSource } from './receiver.ts';
import { makeTraceBatch } from './test-payloads.ts';
import { startTestReceiver } from './test-server.ts';
import type { TestReceiver } from './test-server.ts';
import type { SpanRecord } from './types.ts';

const received: { source: SpanSource; spans: SpanRecord[] }[] = [];
let overloaded = false;
const sink: SpanSink = {
  *acceptSteps(source, spans) {
    if (overloaded) throw new SinkOverloadedError('queue full');
    yield;
    received.push({ source, spans });
    const rejected = spans.filter((s) => s.attributes.get('reject') === true).length;
    return { rejected, reasons: rejected > 0 ? [`spoofed_pod: ${rejected}`] : [] };
  },
};

let rx: TestReceiver;
beforeAll(async () => {
  rx = await startTestReceiver({ sink, maxBodyBytes: 64 * 1024 });
});
afterAll(() => rx.close());

const batch = makeTraceBatch({ spans: 10 });
const json = JSON.stringify(batch);
const proto = encodeExportRequest(batch);

function post(body: string | Uint8Array, headers: Record<string, string>) {
  return fetch(rx.url, { method: 'POST', body, headers });
}

describe('OTLP/HTTP receiver', () => {
  it('accepts JSON and protobuf, with MIME parameters, gzip and W3C headers', async () => {
    const r1 = await post(json, {
      'content-type': 'Application/JSON; charset=utf-8',
      baggage: 'session.id=x',
    });
    expect(r1.status).toBe(200);
    expect(r1.headers.get('content-type')).toBe('application/json');
    expect(await r1.json()).toEqual({});
    expect(received.at(-1)?.source.headers).toEqual({ baggage: 'session.id=x' });
    const r2 = await post(gzipSync(proto), {
      'content-type': 'application/x-protobuf',
      'content-encoding': 'gzip',
    });
    expect(r2.status).toBe(200);
    expect(decodeExportResponseProtobuf(new Uint8Array(await r2.arrayBuffer()))).toBeNull();
    expect(received.at(-1)?.spans).toHaveLength(10);
    expect(received.at(-1)?.source.remoteAddress).toMatch(/127\.0\.0\.1/);
  });

  it('reports partial success for decode and sink rejections', async () => {
    const req = makeTraceBatch({ spans: 3 }) as {
      resourceSpans: { scopeSpans: { spans: Record<string, unknown>[] }[] }[];
    };
    const [first, second] = req.resourceSpans[0]?.scopeSpans[0]?.spans ?? [];
    if (first === undefined || second === undefined) throw new Error('batch has 3 spans');
    first.traceId = '0'.repeat(32);
    (second.attributes as unknown[]).push({ key: 'reject', value: { boolValue: true } });
    const r = await post(JSON.stringify(req), { 'content-type': 'application/json' });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({
      partialSuccess: {
        rejectedSpans: '2',
        errorMessage: 'rejected spans (invalid_id: 1, spoofed_pod: 1)',
      },
    });
    const p = await post(encodeExportRequest(req), { 'content-type': 'application/x-protobuf' });
    expect(decodeExportResponseProtobuf(new Uint8Array(await p.arrayBuffer()))).toEqual({
      rejectedSpans: 2n,
      errorMessage: 'rejected spans (invalid_id: 1, spoofed_pod: 1)',
    });
  });

  it('answers errors with the right status and a google.rpc.Status', async () => {
    const get = await fetch(rx.url);
    expect([get.status, get.headers.get('allow')]).toEqual([405, 'POST']);
    const text = await post('x', { 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    expect(((await text.json()) as { message: string }).message).toMatch(
      /unsupported Content-Type/,
    );
    expect(
      (await post(json, { 'content-type': 'application/json', 'content-encoding': 'br' })).status,
    ).toBe(415);
    const badJson = await post('{"resourceSpans":', { 'content-type': 'application/json' });
    expect(badJson.status).toBe(400);
    expect(await badJson.json()).toMatchObject({
      code: 3,
      message: expect.stringMatching(/not valid JSON/),
    });
    const badProto = await post(new Uint8Array([0x0a, 0xff]), {
      'content-type': 'application/x-protobuf',
    });
    expect(badProto.status).toBe(400);
    expect(decodeStatusProtobuf(new Uint8Array(await badProto.arrayBuffer())).code).toBe(3);
    const badGzip = await post('not gzip', {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
    });
    expect(badGzip.status).toBe(400);
  });

  it('limits the body after decompression (413), including gzip bombs', async () => {
    const big = JSON.stringify({ pad: 'x'.repeat(70 * 1024) });
    expect((await post(big, { 'content-type': 'application/json' })).status).toBe(413);
    const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024, 0x20));
    expect(bomb.length).toBeLessThan(64 * 1024);
    const r = await post(bomb, {
      'content-type': 'application/x-protobuf',
      'content-encoding': 'gzip',
    });
    expect(r.status).toBe(413);
    expect(decodeStatusProtobuf(new Uint8Array(await r.arrayBuffer())).code).toBe(8);
  });

  it('answers 429 with Retry-After when the sink is overloaded or too many requests are in flight', async () => {
    overloaded = true;
    const r = await post(json, { 'content-type': 'application/json' });
    overloaded = false;
    // The refused request's connection is closed, so its body is not read.
    expect([r.status, r.headers.get('retry-after'), r.headers.get('connection')]).toEqual([
      429,
      '1',
      'close',
    ]);
    const busy = await startTestReceiver({ sink, maxInFlight: 0, retryAfterSeconds: 3 });
    const b = await fetch(busy.url, {
      method: 'POST',
      body: proto,
      headers: { 'content-type': 'application/x-protobuf' },
    });
    expect([b.status, b.headers.get('retry-after'), b.headers.get('connection')]).toEqual([
      429,
      '3',
      'close',
    ]);
    await busy.close();
  });

  it('mounts as an express router', async () => {
    const app = express();
    app.use(otlpRouter({ sink }));
    const server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
    expect(
      (
        await fetch(url, {
          method: 'POST',
          body: json,
          headers: { 'content-type': 'application/json' },
        })
      ).status,
    ).toBe(200);
    expect((await fetch(url, { method: 'PUT', body: json })).status).toBe(405);
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
});
