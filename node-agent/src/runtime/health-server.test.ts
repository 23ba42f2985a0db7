import { execFile, spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { liveness, readiness } from './health-state.ts';
import { listenHealth, type HealthListening } from './health-server.ts';

const open: HealthListening[] = [];
afterEach(async () => {
  while (open.length) await open.pop()?.close();
});

describe('health listener (worker thread)', () => {
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

  it('answers while the main thread is blocked, and says the loop stalled', async () => {
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
    // A child process probes while this thread spins: only the worker can answer.
    const probe = `fetch('${base}/readyz').then(async (r) => console.log(r.status, JSON.stringify(await r.text())))`;
    const answered = new Promise<string>((resolve) =>
      execFile(process.execPath, ['-e', `setTimeout(() => ${probe}, 2000)`], (_e, out) =>
        resolve(out),
      ),
    );
    // Blocked well past the readiness limit: the worker still answers, and says so.
    const until = Date.now() + 6000;
    while (Date.now() < until) spawnSync('true');
    expect(await answered).toMatch(/^503 .*event-loop failed/);
  }, 30_000);
});

describe('health verdicts', () => {
  it('liveness fails only once the heartbeat is older than the limit', () => {
    expect(liveness(10_000, 5_000, 5_000)).toEqual({ status: 200, body: 'ok\n' });
    expect(liveness(10_001, 5_000, 5_000).status).toBe(503);
  });

  it('readiness lists every check and the event loop', () => {
    expect(readiness(['a', 'b'], 0b01, 100, 100, 50)).toEqual({
      status: 503,
      body: '[+]a ok\n[-]b failed\n[+]event-loop ok\nreadyz check failed\n',
    });
    expect(readiness(['a'], 0b1, 200, 100, 50).body).toContain('[-]event-loop failed');
  });
});
