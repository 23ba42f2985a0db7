// What the health listener reads: the main thread's last heartbeat (wall ms) and which readiness
// checks passed then, in a SharedArrayBuffer both threads see. Pure helpers, shared by the main
// thread (health-server.ts) and the health worker (health-worker.ts).

/** [0] heartbeat wall-clock ms, [1] bit i set = check i passed. */
export const HEALTH_STATE_SLOTS = 2;

export interface HealthVerdict {
  readonly status: 200 | 503;
  readonly body: string;
}

/** /healthz: alive while the main thread's event loop beats; stalled past `staleMs`, not. */
export function liveness(nowMs: number, heartbeatMs: number, staleMs: number): HealthVerdict {
  const age = nowMs - heartbeatMs;
  return age <= staleMs
    ? { status: 200, body: 'ok\n' }
    : { status: 503, body: `event loop stalled for ${age} ms (limit ${staleMs} ms)\n` };
}

/**
 * /readyz in the apiserver's verbose format: one line per check as of the last heartbeat, and an
 * `event-loop` line that fails when that heartbeat is older than `staleMs`, so a busy agent
 * leaves the OTLP Service's endpoints (its spans go elsewhere or are retried) until it recovers.
 */
export function readiness(
  names: readonly string[],
  bits: number,
  nowMs: number,
  heartbeatMs: number,
  staleMs: number,
): HealthVerdict {
  const results = names.map((name, i) => ({ name, ok: (bits & (1 << i)) !== 0 }));
  results.push({ name: 'event-loop', ok: nowMs - heartbeatMs <= staleMs });
  const ready = results.every((r) => r.ok);
  const lines = results.map((r) => `[${r.ok ? '+' : '-'}]${r.name} ${r.ok ? 'ok' : 'failed'}`);
  lines.push(ready ? 'readyz check passed' : 'readyz check failed');
  return { status: ready ? 200 : 503, body: `${lines.join('\n')}\n` };
}

/** Bit i set when check i passes; a check that throws has failed. */
export function checkBits(checks: readonly (() => boolean)[]): number {
  let bits = 0;
  checks.forEach((check, i) => {
    let ok: boolean;
    try {
      ok = check();
    } catch {
      ok = false;
    }
    if (ok) bits |= 1 << i;
  });
  return bits;
}
