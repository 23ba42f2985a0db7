import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { liveness, readiness } from './health-state.ts';
import { listenHealth, type HealthListening } from './health-server.ts';

const open: HealthListening[] = [];
afterEach(async () => {
  while (open.length) await open.pop()?.close();
});

describe('health listener', () => {
  it('reports ready only when every check passes, saying which failed; a throwing check fails', async () => {
    const state = { synced: false };
    const health = await listenHealth({
      host: '127.0.0.1',
      port: 0,
      heartbeatMs: 20,
      checks: {
        'pod-watch-synced': () => state.synced,
        broken: () => {
          throw new Error('x');
        },
      },
    });
    open.push(health);
    const base = `http://127.0.0.1:${health.port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.text()).toBe(
      '[-]pod-watch-synced failed\n[-]broken failed\n[+]event-loop ok\nreadyz check failed\n',
    );
    state.synced = true;
    await expect
      .poll(async () => (await fetch(`${base}/readyz`)).text())
      .toContain('[+]pod-watch-synced ok');
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it('answers a probe that came during a stall once the loop is free, and says it stalled', async () => {
    const health = await listenHealth({
      host: '127.0.0.1',
      port: 0,
      checks: { ok: () => true },
      heartbeatMs: 20,
      livenessStaleMs: 10_000,
      readinessStaleMs: 1000,
    });
    open.push(health);
    const base = `http://127.0.0.1:${health.port}`;
    await expect.poll(async () => (await fetch(`${base}/readyz`)).status).toBe(200);
    // A child process probes while this thread spins; the answer comes when the spin ends. The
    // child marks when its request is sent, and the spin lasts past the readiness limit after it.
    const sent = join(await mkdtemp(join(tmpdir(), 'agentmeter-health-')), 'sent');
    const probe =
      `const req = require('node:http').get('${base}/readyz', (r) => { let b = ''; ` +
      `r.on('data', (d) => (b += d)).on('end', () => console.log(r.statusCode, JSON.stringify(b))); }); ` +
      `req.on('finish', () => require('node:fs').writeFileSync(${JSON.stringify(sent)}, ''));`;
    const answered = new Promise<string>((resolve) =>
      execFile(process.execPath, ['-e', probe], (_e, out) => resolve(out)),
    );
    let until = Date.now() + 20_000;
    while (Date.now() < until) {
      if (until - Date.now() > 1500 && existsSync(sent)) until = Date.now() + 1500;
      spawnSync('true');
    }
    await rm(dirname(sent), { recursive: true, force: true });
    expect(await answered).toMatch(/^503 .*event-loop failed/);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    // Beating on time again, it is ready again.
    await expect.poll(async () => (await fetch(`${base}/readyz`)).status).toBe(200);
  }, 30_000);
});

describe('health verdicts', () => {
  it('liveness fails only once the loop has stalled longer than the limit', () => {
    expect(liveness(5_000, 5_000)).toEqual({ status: 200, body: 'ok\n' });
    expect(liveness(5_001, 5_000)).toEqual({
      status: 503,
      body: 'event loop stalled for 5001 ms (limit 5000 ms)\n',
    });
  });

  it('readiness lists every check and the event loop', () => {
    expect(readiness(['a', 'b'], 0b01, 50, 50)).toEqual({
      status: 503,
      body: '[+]a ok\n[-]b failed\n[+]event-loop ok\nreadyz check failed\n',
    });
    expect(readiness(['a'], 0b1, 51, 50).body).toContain('[-]event-loop failed');
  });
});
