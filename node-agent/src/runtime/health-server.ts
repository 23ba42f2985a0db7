// /healthz and /readyz on a listener of their own, answered on the main thread. A heartbeat timer
// records how late each beat came; a probe answered after the event loop stalled says so (503)
// until the loop has beaten on time four times in a row. Under an OTLP flood a probe waits for a
// turn or two of the loop, not for the flood: the receiver decodes and ingests in 50 ms turns of
// small steps and does not read the bodies of requests it refuses (otlp/turns.ts, otlp/receiver.ts;
// measured in PERFORMANCE.md and the README, Benchmarks: health-under-flood). A worker thread
// answered them before; its V8 isolate cost ~14 MiB of RSS, more than the agent's budget had left.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkBits, liveness, readiness } from './health-state.ts';

export interface HealthServerOptions {
  readonly host: string;
  readonly port: number;
  /** Named readiness checks (agent/readiness.ts), evaluated when /readyz is asked. */
  readonly checks: Readonly<Record<string, () => boolean>>;
  /** /healthz fails once the event loop has stalled this long; default 10 s. */
  readonly livenessStaleMs?: number;
  /** /readyz fails once the event loop has stalled this long; default 5 s. */
  readonly readinessStaleMs?: number;
  readonly heartbeatMs?: number;
}

export interface HealthListening {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function listenHealth(options: HealthServerOptions): Promise<HealthListening> {
  const names = Object.keys(options.checks);
  const checks = Object.values(options.checks);
  const heartbeatMs = options.heartbeatMs ?? 250;
  const livenessStaleMs = options.livenessStaleMs ?? 10_000;
  const readinessStaleMs = options.readinessStaleMs ?? 5_000;
  let lastBeat = Date.now();
  // The longest gap of the last few beats: after a stall the timer's phase runs before the probe
  // is read, and accepting and reading a connection can take more than one loop turn (another
  // beat) on a busy machine, so one gap alone may already hide the stall the probe waited out.
  const recentGaps = [0, 0, 0, 0];
  let beats = 0;
  const timer = setInterval(() => {
    const now = Date.now();
    recentGaps[beats++ % recentGaps.length] = now - lastBeat;
    lastBeat = now;
  }, heartbeatMs);
  timer.unref();

  const stalledMs = (now: number): number => Math.max(...recentGaps, now - lastBeat);
  const answer = (path: string): { status: number; body: string } => {
    const now = Date.now();
    if (path === '/healthz') return liveness(stalledMs(now), livenessStaleMs);
    if (path === '/readyz')
      return readiness(names, checkBits(checks), stalledMs(now), readinessStaleMs);
    return { status: 404, body: 'not found\n' };
  };

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const verdict = req.method === 'GET' || req.method === 'HEAD' ? answer(path) : null;
    req.resume();
    if (verdict === null) {
      res
        .writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' })
        .end('method not allowed\n');
      return;
    }
    res
      .writeHead(verdict.status, { 'Content-Type': 'text/plain; charset=utf-8' })
      .end(verdict.body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(new Error(`health listener on ${options.host}:${options.port}: ${err.message}`)),
    );
    server.listen(options.port, options.host, resolve);
  }).catch((err: unknown) => {
    clearInterval(timer);
    throw err;
  });
  const address = server.address() as AddressInfo;
  return {
    host: address.address,
    port: address.port,
    close: async () => {
      clearInterval(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
