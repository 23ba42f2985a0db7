// The demo's workloads: CPU burners as real processes in kubelet-style pod cgroups, and an agent
// runtime's OTLP/HTTP trace exporter that sends GenAI spans from its pod's own IP, so the agent
// verifies the sender by source address exactly as it does for a real pod.
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { TestPodCgroup } from '../../test/support/cgroups.ts';

/**
 * Busy for `duty` of every 100 ms, asleep the rest: a steady fraction of one core, so the demo
 * stays visible without starving other work on a small machine.
 */
const BURNER = `const d = Number(process.argv[1]);
(function burn() {
  const t = Date.now();
  while (Date.now() - t < d * 100);
  setTimeout(burn, (1 - d) * 100);
})();`;

export function startBurner(group: TestPodCgroup, duty: number): void {
  const child = group.run(process.execPath, ['-e', BURNER, String(duty)]);
  // A burner that dies early (e.g. could not join its cgroup: exit 97) would show as a zero row.
  child.on('exit', (code, signal) => {
    if (signal === null && code !== 0)
      process.stderr.write(`[demo] burner in pod ${group.uid} exited with ${code}\n`);
  });
}

/** Sleeps `ms` unless `signal` aborts first; true when the full time passed. */
export function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((done) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      done(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      done(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export interface SessionPlan {
  readonly id: string;
  readonly model: string;
}

export interface SpanStats {
  sent: number;
  rejected: number;
  failed: number;
  lastError?: string;
}

function attr(key: string, value: string | number): { key: string; value: object } {
  return typeof value === 'string'
    ? { key, value: { stringValue: value } }
    : { key, value: { intValue: String(value) } };
}

const randomInt = (min: number, max: number): number =>
  min + Math.floor(Math.random() * (max - min + 1));

/** One OTLP/JSON export of a finished LLM call span. */
function exportRequest(session: SessionPlan, startMs: number, endMs: number): object {
  const ns = (ms: number): string => (BigInt(ms) * 1_000_000n).toString();
  return {
    resourceSpans: [
      {
        resource: { attributes: [attr('service.name', 'agent-runtime')] },
        scopeSpans: [
          {
            scope: { name: 'agentmeter-demo' },
            spans: [
              {
                traceId: randomBytes(16).toString('hex'),
                spanId: randomBytes(8).toString('hex'),
                name: `chat ${session.model}`,
                kind: 3,
                startTimeUnixNano: ns(startMs),
                endTimeUnixNano: ns(endMs),
                attributes: [
                  attr('session.id', session.id),
                  attr('gen_ai.operation.name', 'chat'),
                  attr('gen_ai.request.model', session.model),
                  attr('gen_ai.usage.input_tokens', randomInt(800, 4000)),
                  attr('gen_ai.usage.output_tokens', randomInt(150, 900)),
                ],
                status: { code: 1 },
              },
            ],
          },
        ],
      },
    ],
  };
}

function post(
  target: URL,
  localAddress: string,
  body: object,
): Promise<{ status: number; text: string }> {
  const data = JSON.stringify(body);
  return new Promise((done, fail) => {
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: '/v1/traces',
        method: 'POST',
        localAddress,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
        timeout: 5000,
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => done({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', fail);
    req.end(data);
  });
}

/**
 * Runs `session` until `signal` aborts: LLM calls of 1–3 s with short pauses between them, each
 * exported as a span when it ends, like an SDK's batch processor with a short delay.
 */
export async function runSession(
  otlp: URL,
  podIp: string,
  session: SessionPlan,
  stats: SpanStats,
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    const start = Date.now();
    if (!(await pause(randomInt(1000, 3000), signal))) return;
    try {
      const res = await post(otlp, podIp, exportRequest(session, start, Date.now()));
      stats.sent++;
      const partial = res.status === 200 ? (JSON.parse(res.text || '{}') as PartialBody) : {};
      const rejected = Number(partial.partialSuccess?.rejectedSpans ?? 0);
      if (res.status !== 200 || rejected > 0) {
        stats.rejected++;
        stats.lastError = `HTTP ${res.status} ${partial.partialSuccess?.errorMessage ?? res.text}`;
      }
    } catch (err) {
      stats.failed++;
      stats.lastError = (err as Error).message;
    }
    await pause(randomInt(0, 800), signal);
  }
}

interface PartialBody {
  partialSuccess?: { rejectedSpans?: string; errorMessage?: string };
}
