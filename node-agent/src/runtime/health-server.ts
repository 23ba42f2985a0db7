// /healthz and /readyz on a listener of their own, answered by a worker thread (health-worker.ts)
// from a heartbeat the main thread writes every `heartbeatMs` together with its readiness checks.
// Probes are answered within their timeout however busy the main event loop is (measured in the
// README, Benchmarks: health-under-flood), and say so when that loop has stalled.
import { Worker } from 'node:worker_threads';
import { checkBits, HEALTH_STATE_SLOTS } from './health-state.ts';
import type { HealthWorkerData } from './health-worker.ts';

export interface HealthServerOptions {
  readonly host: string;
  readonly port: number;
  /** Named readiness checks (agent/readiness.ts), evaluated on the main thread. */
  readonly checks: Readonly<Record<string, () => boolean>>;
  /** /healthz fails once the main thread has not beaten for this long; default 10 s. */
  readonly livenessStaleMs?: number;
  /** /readyz fails once the main thread has not beaten for this long; default 5 s. */
  readonly readinessStaleMs?: number;
  readonly heartbeatMs?: number;
}

export interface HealthListening {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** The worker script beside this module: TypeScript from the sources, JavaScript in the bundle
 * (hack/build-dist.ts builds it as its own entry point next to main.js). */
function workerUrl(): URL {
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  return new URL(`./health-worker.${ext}`, import.meta.url);
}

export async function listenHealth(options: HealthServerOptions): Promise<HealthListening> {
  const shared = new SharedArrayBuffer(HEALTH_STATE_SLOTS * BigInt64Array.BYTES_PER_ELEMENT);
  const state = new BigInt64Array(shared);
  const names = Object.keys(options.checks);
  const checks = Object.values(options.checks);
  const beat = (): void => {
    Atomics.store(state, 1, BigInt(checkBits(checks)));
    Atomics.store(state, 0, BigInt(Date.now()));
  };
  beat();
  const data: HealthWorkerData = {
    host: options.host,
    port: options.port,
    checks: names,
    shared,
    livenessStaleMs: options.livenessStaleMs ?? 10_000,
    readinessStaleMs: options.readinessStaleMs ?? 5_000,
  };
  const worker = new Worker(workerUrl(), { workerData: data });
  const address = await new Promise<{ host: string; port: number }>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`health worker exited with ${code}`)));
    worker.once('message', (m: { host?: string; port?: number; error?: string }) => {
      if (m.error !== undefined || m.host === undefined || m.port === undefined)
        reject(
          new Error(
            `health listener on ${options.host}:${options.port}: ${m.error ?? 'no address'}`,
          ),
        );
      else resolve({ host: m.host, port: m.port });
    });
  }).catch(async (err: unknown) => {
    await worker.terminate();
    throw err;
  });
  worker.removeAllListeners('exit');
  const timer = setInterval(beat, options.heartbeatMs ?? 250);
  timer.unref();
  return {
    ...address,
    close: async () => {
      clearInterval(timer);
      await worker.terminate();
    },
  };
}
