// The health listener's verdicts (health-server.ts): pure, from how long the event loop last
// stalled and which readiness checks pass.

export interface HealthVerdict {
  readonly status: 200 | 503;
  readonly body: string;
}

/** /healthz: alive while the event loop beats; stalled past `staleMs`, not. */
export function liveness(stalledMs: number, staleMs: number): HealthVerdict {
  return stalledMs <= staleMs
    ? { status: 200, body: 'ok\n' }
    : { status: 503, body: `event loop stalled for ${stalledMs} ms (limit ${staleMs} ms)\n` };
}

/**
 * /readyz in the apiserver's verbose format: one line per check, and an `event-loop` line that
 * fails when the loop last stalled longer than `staleMs`, so a busy agent
 * leaves the OTLP Service's endpoints (its spans go elsewhere or are retried) until it recovers.
 */
export function readiness(
  names: readonly string[],
  bits: number,
  stalledMs: number,
  staleMs: number,
): HealthVerdict {
  const results = names.map((name, i) => ({ name, ok: (bits & (1 << i)) !== 0 }));
  results.push({ name: 'event-loop', ok: stalledMs <= staleMs });
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
