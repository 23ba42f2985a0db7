// The looping agent as a process, with the real OTel SDK exporting to a local endpoint that also
// answers as the node agent's session view: the loop calls the same tool with the same arguments
// until the session reads over budget, then exits 0 with every span exported; the node agent's
// call reader gives each tool call the same argument hash, and never keeps the arguments.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeProtobufRequest,
  encodeExportResponseProtobuf,
} from '../../../../node-agent/src/otlp/decode-protobuf.ts';
import type { SpanRecord } from '../../../../node-agent/src/otlp/types.ts';
import { extractCall } from '../../../../node-agent/src/calls/extract.ts';

const loopMain = fileURLToPath(new URL('./loop-main.ts', import.meta.url));
const ARGS = '{"query":"status of order 42","secret":"do-not-store"}';
/** Tool spans the endpoint receives before it marks the session over budget. */
const TRIP_AFTER = 12;

describe('the looping agent', () => {
  const spans: SpanRecord[] = [];
  let checks = 0;
  const tools = () =>
    spans.filter((s) => s.attributes.get('gen_ai.operation.name') === 'execute_tool').length;
  const endpoint = createServer((req, res) => {
    const body: Buffer[] = [];
    req.on('data', (c: Buffer) => body.push(c));
    req.on('end', () => {
      if (req.url === '/v1/sessions/ns-a/loop-1') {
        checks++;
        res.writeHead(checks === 1 ? 404 : 200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ overBudget: tools() >= TRIP_AFTER }));
        return;
      }
      spans.push(...decodeProtobufRequest(Buffer.concat(body)).spans);
      res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      res.end(encodeExportResponseProtobuf(null));
    });
  });
  beforeAll(() => new Promise<void>((done) => endpoint.listen(0, '127.0.0.1', done)));
  afterAll(() => new Promise<void>((done) => endpoint.close(() => done())));

  it('repeats one tool call until its session is over budget, then stops', async () => {
    const base = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}`;
    const child = spawn(process.execPath, [loopMain], {
      env: {
        PATH: process.env.PATH,
        OTEL_EXPORTER_OTLP_ENDPOINT: base,
        OTEL_BSP_SCHEDULE_DELAY: '50',
        AGENT_APP_LOOP_SESSION: 'loop-1',
        AGENT_APP_SESSION_URL: `${base}/v1/sessions/ns-a/loop-1`,
        AGENT_APP_LOOP_ARGS: ARGS,
        AGENT_APP_LOOP_PAUSE_MS: '10',
        AGENT_APP_LOOP_MAX_STEPS: '5000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const code = await new Promise<number | null>((done) => child.on('exit', (c) => done(c)));
    expect(code, output).toBe(0);
    const stopped = JSON.parse(
      output.split('\n').find((l) => l.includes('"loop stopped"')) ?? '{}',
    ) as { stoppedBy?: string; steps?: number };
    expect(stopped.stoppedBy).toBe('over-budget');
    // Every step is exported before the exit: a chat and a tool span each, all of one session.
    expect(tools()).toBe(stopped.steps);
    expect(tools()).toBeGreaterThanOrEqual(TRIP_AFTER);
    expect(spans).toHaveLength(2 * tools());
    expect(new Set(spans.map((s) => s.attributes.get('session.id')))).toEqual(new Set(['loop-1']));
    const hashes = new Set<string | null | undefined>();
    for (const span of spans) {
      const read = extractCall(span, () => null);
      expect(read.kind).toBe('call');
      if (read.kind === 'call' && read.call.kind === 'tool') {
        expect(read.call.tool?.name).toBe('web_search');
        expect(JSON.stringify(read.call.tool)).not.toContain('do-not-store');
        hashes.add(read.call.tool?.argsHash);
      }
    }
    expect(hashes.size).toBe(1);
    expect([...hashes][0]).toMatch(/^[0-9a-f]{64}$/);
  });
});
