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

// Runs in a child process from the bundle, as the image runs the agent, and prints what it saw.
const PROBE = `
import express from 'express';
import iconv from 'iconv-lite';

const attempt = (fn) => { try { return { ok: fn() }; } catch (err) { return { error: err.message }; } };
const app = express();
app.post('/echo', express.json({ limit: '1kb' }), (req, res) => res.json(req.body));
const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const url = 'http://127.0.0.1:' + server.address().port + '/echo';
const post = async (type, body) => {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': type }, body });
  return { status: res.status, body: await res.text() };
};
const result = {
  utf8: await post('application/json', JSON.stringify({ seq: '7' })),
  utf16: await post('application/json; charset=utf-16le', Buffer.from('{"seq":"8"}', 'utf16le')),
  shiftJis: await post('application/json; charset=shift_jis', '{"seq":"9"}'),
  shiftJisDecode: attempt(() => iconv.decode(Buffer.from([0x82, 0xa0]), 'shift_jis')),
  latin1Decode: attempt(() => iconv.decode(Buffer.from([0xe9]), 'latin1')),
};
server.close();
process.stdout.write(JSON.stringify(result));
`;

describe('agent bundle: left-out modules', () => {
  let dir: string;
  let seen: Record<string, unknown>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agentmeter-bundle-'));
    // The probe sits in the repository so its imports resolve as the agent's do.
    const entry = join(import.meta.dirname, `.left-out-probe-${process.pid}.mjs`);
    await writeFile(entry, PROBE);
    try {
      await bundle({ probe: entry }, dir, program('agent').leftOut);
    } finally {
      await rm(entry, { force: true });
    }
    const { stdout } = await run(process.execPath, [join(dir, 'probe.js')], { timeout: 60_000 });
    seen = JSON.parse(stdout) as Record<string, unknown>;
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
});
