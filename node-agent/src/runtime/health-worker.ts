// The health listener's thread: answers /healthz and /readyz from the shared heartbeat state
// without waiting for the main thread, whose event loop may be busy with an OTLP flood. Its
// answers stay honest because they are about that event loop: a stalled loop fails both.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { liveness, readiness } from './health-state.ts';

export interface HealthWorkerData {
  readonly host: string;
  readonly port: number;
  readonly checks: readonly string[];
  readonly shared: SharedArrayBuffer;
  readonly livenessStaleMs: number;
  readonly readinessStaleMs: number;
}

const data = workerData as HealthWorkerData;
const state = new BigInt64Array(data.shared);

function answer(path: string): { status: number; body: string } {
  const now = Date.now();
  const heartbeat = Number(Atomics.load(state, 0));
  if (path === '/healthz') return liveness(now, heartbeat, data.livenessStaleMs);
  if (path === '/readyz') {
    const bits = Number(Atomics.load(state, 1));
    return readiness(data.checks, bits, now, heartbeat, data.readinessStaleMs);
  }
  return { status: 404, body: 'not found\n' };
}

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
  res.writeHead(verdict.status, { 'Content-Type': 'text/plain; charset=utf-8' }).end(verdict.body);
});
server.on('error', (err) => parentPort?.postMessage({ error: err.message }));
server.listen(data.port, data.host, () => {
  const address = server.address() as AddressInfo;
  parentPort?.postMessage({ host: address.address, port: address.port });
});
