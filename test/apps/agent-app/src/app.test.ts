// The app as a process, with the real OTel SDK exporting to a local OTLP/HTTP endpoint whose
// bodies are read by the node agent's own decoder and call reader: concurrent sessions, every
// span charged to its session by `session.id`, calls (chat with cache reads, tools, an API) as
// the agent will record them, and shutdown() exporting everything before the process exits.
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
import { parseSessionRequest, SessionRequestError } from './session.ts';

const main = fileURLToPath(new URL('./main.ts', import.meta.url));

describe('parseSessionRequest', () => {
  it('takes defaults and bounded integers', () => {
    const req = parseSessionRequest('s-1', new URLSearchParams('turns=2&tools=0&cpu_ms=5'), 'm');
    expect(req).toEqual({
      sessionId: 's-1',
      model: 'm',
      turns: 2,
      toolsPerTurn: 0,
      cpuMsPerStep: 5,
      inputTokens: 1200,
      outputTokens: 300,
      cacheReadTokens: 0,
      apiHost: null,
    });
  });
  it.each([
    ['bad id!', ''],
    ['s', 'turns=-1'],
    ['s', 'turns=1.5'],
    ['s', 'turns=101'],
    ['s', 'input_tokens=1e6'],
    ['s', 'model=a%20b'],
    ['s', 'input_tokens=10&cache_read_tokens=11'],
    ['s', 'api_host=https://x'],
    ['x'.repeat(129), ''],
  ])('refuses session %j with %j', (id, query) => {
    expect(() => parseSessionRequest(id, new URLSearchParams(query), 'm')).toThrow(
      SessionRequestError,
    );
  });
});

describe('agent-app process', () => {
  const spans: SpanRecord[] = [];
  let rejected = 0;
  const otlp = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const decoded = decodeProtobufRequest(Buffer.concat(chunks));
      spans.push(...decoded.spans);
      for (const n of decoded.rejected.values()) rejected += n;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      res.end(encodeExportResponseProtobuf(null));
    });
  });
  beforeAll(() => new Promise<void>((done) => otlp.listen(0, '127.0.0.1', done)));
  afterAll(() => new Promise<void>((done) => otlp.close(() => done())));

  it(
    'serves concurrent sessions and exports their GenAI spans on shutdown',
    { timeout: 60_000 },
    async () => {
      const child = spawn(process.execPath, [main], {
        env: {
          PATH: process.env.PATH,
          HOST: '127.0.0.1',
          PORT: '0',
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(otlp.address() as AddressInfo).port}`,
          OTEL_RESOURCE_ATTRIBUTES: 'k8s.pod.uid=0f8b1a52-5c1e-4c2e-9d7a-3f1f6b7e2a10',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stderr.on('data', (c: Buffer) => (output += c.toString()));
      const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
      const port = await new Promise<number>((done, fail) => {
        child.stdout.on('data', (c: Buffer) => {
          output += c.toString();
          const m = /"msg":"listening","port":(\d+)/.exec(output);
          if (m) done(Number(m[1]));
        });
        void exited.then(() => fail(new Error(`agent-app exited before listening:\n${output}`)));
      });
      const base = `http://127.0.0.1:${port}`;

      expect((await fetch(`${base}/sessions/bad%20id`, { method: 'POST' })).status).toBe(400);
      const sessions = ['s-alpha', 's-beta', 's-gamma'];
      const results = await Promise.all(
        sessions.map(async (id, i) => {
          const res = await fetch(
            `${base}/sessions/${id}?turns=${i + 2}&tools=2&cpu_ms=15&input_tokens=${100 * (i + 1)}&output_tokens=7&cache_read_tokens=${80 * (i + 1)}&api_host=api.stripe.com`,
            { method: 'POST' },
          );
          expect(res.status).toBe(200);
          return (await res.json()) as {
            session: string;
            traceId: string;
            inputTokens: string;
            outputTokens: string;
            cacheReadTokens: string;
            toolCalls: number;
            apiCalls: number;
          };
        }),
      );
      child.kill('SIGTERM');
      expect(await exited, output).toBe(0);
      expect(rejected).toBe(0);

      for (const [i, id] of sessions.entries()) {
        const turns = i + 2;
        const result = results[i];
        expect(result).toMatchObject({
          session: id,
          inputTokens: String(100 * (i + 1) * turns),
          outputTokens: String(7 * turns),
          cacheReadTokens: String(80 * (i + 1) * turns),
          toolCalls: 2 * turns,
          apiCalls: turns,
        });
        // The API span carries no session.id: it inherits the session through its trace.
        const mine = spans.filter((s) => s.traceId === result?.traceId);
        expect(mine.filter((s) => s.attributes.get('session.id') === id)).toHaveLength(
          1 + 3 * turns,
        );
        const ops = mine.map((s) => s.attributes.get('gen_ai.operation.name'));
        expect(ops.filter((o) => o === 'invoke_agent')).toHaveLength(1);
        expect(ops.filter((o) => o === 'chat')).toHaveLength(turns);
        expect(ops.filter((o) => o === 'execute_tool')).toHaveLength(2 * turns);
        let input = 0n;
        let out = 0n;
        let cacheRead = 0n;
        const kinds: string[] = [];
        for (const span of mine) {
          const read = extractCall(span, (host) => (host === 'api.stripe.com' ? host : null));
          expect(read.kind).not.toBe('invalid');
          if (read.kind !== 'call') continue;
          const { call } = read;
          kinds.push(call.kind);
          if (call.kind === 'model') {
            expect(call.model).toBe('gpt-4o-mini');
            input += call.tokens?.input ?? 0n;
            out += call.tokens?.output ?? 0n;
            cacheRead += call.tokens?.cacheRead ?? 0n;
          }
          if (call.kind === 'tool') expect(call.tool?.callId).toMatch(/^call_\d+_\d$/);
          if (call.kind === 'api') expect(call.apiHost).toBe('api.stripe.com');
        }
        // invoke_agent wraps the calls and is none of them.
        expect(kinds.sort()).toEqual([
          ...Array(turns).fill('api'),
          ...Array(turns).fill('model'),
          ...Array(2 * turns).fill('tool'),
        ]);
        expect(input.toString()).toBe(result?.inputTokens);
        expect(out.toString()).toBe(result?.outputTokens);
        expect(cacheRead.toString()).toBe(result?.cacheReadTokens);
        expect(mine[0]?.resourceAttributes.get('k8s.pod.uid')).toBe(
          '0f8b1a52-5c1e-4c2e-9d7a-3f1f6b7e2a10',
        );
        expect(mine[0]?.resourceAttributes.get('service.name')).toBe('agent-app');
      }
      // Served concurrently: the sessions' root spans overlap in time.
      const roots = spans.filter(
        (s) => s.attributes.get('gen_ai.operation.name') === 'invoke_agent',
      );
      const latestStart = roots.reduce((m, s) => (s.startNs > m ? s.startNs : m), 0n);
      const earliestEnd = roots.reduce(
        (m, s) => (s.endNs < m ? s.endNs : m),
        roots[0]?.endNs ?? 0n,
      );
      expect(latestStart < earliestEnd).toBe(true);
    },
  );
});
