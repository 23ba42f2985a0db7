// The agent bundle's left-out modules: what the agent uses of their importers still works from the
// bundle, and reaching a left-out module fails with an error that names it and says why.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle, program } from './build-dist.ts';

const run = promisify(execFile);

// Runs in a child process, from the bundle as the image runs the agent and from the sources with
// every module whole, and prints what it saw.
const PROBE = `
import express from 'express';
import iconv from 'iconv-lite';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

const attempt = (fn) => { try { return { ok: fn() ?? null }; } catch (err) { return { error: err.message }; } };
const app = express();
app.post('/echo', express.json({ limit: '1kb' }), (req, res) => res.json(req.body));
app.get('/query', (req, res) => res.json(req.query));
app.get('/text', (_req, res) => res.type('text/plain').send('ok'));
app.get('/html', (_req, res) => res.send('<p>ok</p>'));
app.get('/bytes', (_req, res) => res.send(Buffer.from([1, 2])));
app.get('/status', (_req, res) => res.sendStatus(204));
app.get('/openmetrics', (_req, res) => res.type('application/openmetrics-text; version=1.0.0').send('# EOF'));
app.get('/fail', () => { throw new Error('boom'); });
const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const base = 'http://127.0.0.1:' + server.address().port;
const post = async (type, body) => {
  const res = await fetch(base + '/echo', { method: 'POST', headers: { 'content-type': type }, body });
  return { status: res.status, body: await res.text() };
};
const get = async (path) => {
  const res = await fetch(base + path);
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
};
const registry = new Registry();
const counter = new Counter({ name: 'probe_total', help: 'h', labelNames: ['a'], registers: [registry] });
counter.inc({ a: 'x' }, 2);
new Gauge({ name: 'probe_gauge', help: 'h', registers: [registry] }).set(3);
new Histogram({ name: 'probe_seconds', help: 'h', buckets: [1], registers: [registry] }).observe(0.5);
const result = {
  utf8: await post('application/json', JSON.stringify({ seq: '7' })),
  utf16: await post('application/json; charset=utf-16le', Buffer.from('{"seq":"8"}', 'utf16le')),
  shiftJis: await post('application/json; charset=shift_jis', '{"seq":"9"}'),
  shiftJisDecode: attempt(() => iconv.decode(Buffer.from([0x82, 0xa0]), 'shift_jis')),
  latin1Decode: attempt(() => iconv.decode(Buffer.from([0xe9]), 'latin1')),
  responses: {
    query: await get('/query?a=1&a=2&b[c]=3'),
    json: await get('/echo-missing'),
    text: await get('/text'),
    html: await get('/html'),
    bytes: await get('/bytes'),
    status: await get('/status'),
    openmetrics: await get('/openmetrics'),
    fail: { ...(await get('/fail')), body: undefined },
  },
  metrics: await registry.metrics(),
};
server.close();
process.stdout.write(JSON.stringify(result));
`;

async function probe(script: string): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, [script], { timeout: 60_000 });
  return JSON.parse(stdout) as Record<string, unknown>;
}

describe('agent bundle: left-out modules', () => {
  let dir: string;
  let seen: Record<string, unknown>;
  let whole: Record<string, unknown>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agentmeter-bundle-'));
    // The probe sits in the repository so its imports resolve as the agent's do.
    const entry = join(import.meta.dirname, `.left-out-probe-${process.pid}.mjs`);
    await writeFile(entry, PROBE);
    try {
      await bundle({ probe: entry }, dir, program('agent').leftOut);
      whole = await probe(entry);
    } finally {
      await rm(entry, { force: true });
    }
    seen = await probe(join(dir, 'probe.js'));
  }, 120_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('parses JSON bodies in UTF-8 and UTF-16, and refuses other charsets with a 415', () => {
    expect(seen.utf8).toEqual({ status: 200, body: '{"seq":"7"}' });
    expect(seen.utf16).toEqual({ status: 200, body: '{"seq":"8"}' });
    expect(seen.shiftJis).toMatchObject({ status: 415 });
  });

  it("keeps iconv-lite's single-byte charsets and names the missing multi-byte table", () => {
    expect(seen.latin1Decode).toEqual({ ok: 'é' });
    expect(seen.shiftJisDecode).toEqual({
      error:
        './tables/shiftjis.json (imported by iconv-lite) is not in this bundle: ' +
        'the agent accepts JSON bodies in UTF-8, UTF-16 and UTF-32 only',
    });
  });

  it('answers with the same statuses, content types and bodies as express with all of mime-db', () => {
    expect(seen.responses).toEqual(whole.responses);
    expect(seen.responses).toMatchObject({
      query: { status: 200, body: '{"a":["1","2"],"b[c]":"3"}' },
      text: { type: 'text/plain; charset=utf-8' },
      html: { type: 'text/html; charset=utf-8' },
      bytes: { type: 'application/octet-stream' },
      status: { status: 204 },
      fail: { status: 500, type: 'text/html; charset=utf-8' },
    });
  });

  it('renders prom-client metrics as the sources do', () => {
    expect(seen.metrics).toBe(whole.metrics);
    expect(seen.metrics).toContain('probe_total{a="x"} 2');
  });
});
