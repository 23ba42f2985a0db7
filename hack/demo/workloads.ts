// The demo's workloads as real pods on the real node: an agent runtime on the standard OTel SDK
// (test/apps/agent-app) serving concurrent sessions, a Job per batch session whose pod template
// carries the session annotation, and a noisy neighbour with no sessions at all. The manifests
// are plain objects; the session driver calls the runtime's HTTP API from this host, over the
// pod network, as a user's frontend would.

export const SESSION_ANNOTATION = 'agentmeter.dev/session-id';

export interface SessionPlan {
  readonly id: string;
  readonly model: string;
}

export interface SessionStats {
  runs: number;
  failed: number;
  lastError?: string;
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

const randomInt = (min: number, max: number): number =>
  min + Math.floor(Math.random() * (max - min + 1));

/** The agent runtime: one pod on the OTel SDK exporting to the chart's node-local OTLP Service. */
export function agentRuntimePod(
  namespace: string,
  image: string,
  otlpEndpoint: string,
): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'agent-runtime-0',
      namespace,
      labels: { 'app.kubernetes.io/component': 'agent-runtime' },
    },
    spec: {
      containers: [
        {
          name: 'runtime',
          image,
          imagePullPolicy: 'Never',
          env: [
            { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: otlpEndpoint },
            { name: 'PORT', value: '8080' },
          ],
          resources: { requests: { cpu: '100m' }, limits: { cpu: '500m', memory: '256Mi' } },
        },
      ],
    },
  };
}

/** A busybox shell loop of `iterations` steps: a fixed amount of CPU work. */
function cpuLoop(iterations: number): string[] {
  return ['sh', '-c', `i=0; while [ $i -lt ${iterations} ]; do i=$((i+1)); done`];
}

/** One batch run: a Job whose pod is wholly that session's, from its creation. */
export function batchJob(
  namespace: string,
  image: string,
  n: number,
  sessionId: string,
): Record<string, unknown> {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: `nightly-eval-${n}`, namespace },
    spec: {
      backoffLimit: 0,
      template: {
        metadata: {
          labels: { 'app.kubernetes.io/component': 'nightly-eval' },
          annotations: { [SESSION_ANNOTATION]: sessionId },
        },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'eval',
              image,
              imagePullPolicy: 'Never',
              command: cpuLoop(1_000_000),
              resources: { limits: { cpu: '300m', memory: '32Mi' } },
            },
          ],
        },
      },
    },
  };
}

/** Burns up to half a core forever, with no sessions: its cost is its namespace's alone. */
export function noisyNeighbour(namespace: string, image: string): Record<string, unknown> {
  const labels = { 'app.kubernetes.io/component': 'noisy-neighbour' };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'noisy-neighbour', namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'burn',
              image,
              imagePullPolicy: 'Never',
              command: ['sh', '-c', 'while :; do :; done'],
              resources: {
                requests: { cpu: '500m', memory: '16Mi' },
                limits: { cpu: '500m', memory: '16Mi' },
              },
            },
          ],
        },
      },
    },
  };
}

/**
 * Drives one session of the agent runtime until `signal` aborts: a run of a few model turns
 * with tool calls, then its spans flushed, then a short pause. Every run names the same session,
 * so the agent charges the runtime's CPU while the session's spans are open, and its tokens.
 */
export async function driveSession(
  runtimeUrl: string,
  plan: SessionPlan,
  stats: SessionStats,
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    const query = new URLSearchParams({
      turns: String(randomInt(2, 3)),
      tools: '1',
      cpu_ms: String(randomInt(100, 250)),
      model: plan.model,
      input_tokens: String(randomInt(800, 4000)),
      output_tokens: String(randomInt(150, 900)),
    });
    try {
      const run = await fetch(`${runtimeUrl}/sessions/${plan.id}?${query.toString()}`, {
        method: 'POST',
        signal: AbortSignal.timeout(60_000),
      });
      if (!run.ok) throw new Error(`POST /sessions/${plan.id}: ${run.status} ${await run.text()}`);
      const flush = await fetch(`${runtimeUrl}/flush`, {
        method: 'POST',
        signal: AbortSignal.timeout(30_000),
      });
      if (!flush.ok) throw new Error(`POST /flush: ${flush.status}`);
      stats.runs++;
    } catch (err) {
      stats.failed++;
      stats.lastError = err instanceof Error ? err.message : String(err);
    }
    await pause(randomInt(500, 2000), signal);
  }
}
