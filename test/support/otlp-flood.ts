// An OTLP flood and a kubelet-style prober, for health-under-load tests and the benchmark:
// `clients` connections each POST export requests of `spans` spans back to back from a pod's
// address, while /healthz and /readyz are probed once a second with the probe's timeout.
import { spawn } from 'node:child_process';
import { request, Agent as HttpAgent } from 'node:http';
import { fileURLToPath } from 'node:url';

export interface FloodOptions {
  readonly otlpUrl: string;
  readonly localAddress: string;
  readonly clients: number;
  readonly spans: number;
  readonly namespace: string;
}

export interface FloodStats {
  readonly byStatus: Map<number, number>;
  /** 429 answers that carried a Retry-After header. */
  retryAfter: number;
  errors: number;
}

function exportBody(spans: number, seed: number): Buffer {
  const now = BigInt(Date.now()) * 1_000_000n;
  const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');
  return Buffer.from(
    JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'flood' } }] },
          scopeSpans: [
            {
              spans: Array.from({ length: spans }, (_, i) => ({
                traceId: hex(seed, 16) + hex(i, 16),
                spanId: hex(seed * spans + i + 1, 16),
                name: 'chat',
                startTimeUnixNano: (now - 2_000_000_000n).toString(),
                endTimeUnixNano: (now - 1_000_000_000n).toString(),
                attributes: [
                  { key: 'session.id', value: { stringValue: `flood-${i % 50}` } },
                  { key: 'gen_ai.request.model', value: { stringValue: 'flood-model' } },
                  { key: 'gen_ai.usage.input_tokens', value: { intValue: '1' } },
                ],
              })),
            },
          ],
        },
      ],
    }),
  );
}

function post(url: URL, body: Buffer, localAddress: string, agent: HttpAgent) {
  return new Promise<{ status: number; retryAfter: boolean }>((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        localAddress,
        headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            retryAfter: res.headers['retry-after'] !== undefined,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Starts the flood; stop() ends it and resolves with what the agent answered. */
export function startFlood(options: FloodOptions): { stop(): Promise<FloodStats> } {
  const stats: FloodStats = { byStatus: new Map(), retryAfter: 0, errors: 0 };
  const url = new URL('/v1/traces', options.otlpUrl);
  const agent = new HttpAgent({ keepAlive: true, maxSockets: options.clients });
  // A few distinct bodies, built once: the flood measures the agent, not this process.
  const bodies = Array.from({ length: 4 }, (_, i) => exportBody(options.spans, i + 1));
  let running = true;
  const loops = Array.from({ length: options.clients }, async (_, c) => {
    for (let n = 0; running; n++) {
      try {
        const res = await post(
          url,
          bodies[(c + n) % bodies.length] as Buffer,
          options.localAddress,
          agent,
        );
        stats.byStatus.set(res.status, (stats.byStatus.get(res.status) ?? 0) + 1);
        if (res.status === 429 && res.retryAfter) stats.retryAfter++;
        // An OTLP exporter backs off on 429; a flood does not, but it yields the socket.
        if (res.status === 429) await new Promise((r) => setTimeout(r, 50));
      } catch {
        stats.errors++;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return stats;
    },
  };
}

export interface ProbeResult {
  readonly path: string;
  /** Milliseconds to the answer, or null when the probe timed out or failed. */
  readonly ms: number | null;
  readonly status: number | null;
}

/** One kubelet-style probe: a fresh connection, `timeoutMs` to answer. */
export function probe(baseUrl: string, path: string, timeoutMs: number): Promise<ProbeResult> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve) => {
    const req = request(new URL(path, baseUrl), { timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({
          path,
          ms: Number(process.hrtime.bigint() - t0) / 1e6,
          status: res.statusCode ?? null,
        }),
      );
    });
    req.on('timeout', () => {
      req.destroy();
      resolve({ path, ms: null, status: null });
    });
    req.on('error', () => resolve({ path, ms: null, status: null }));
    req.end();
  });
}

/** Probes `paths` once every `everyMs` from a process of its own (as the kubelet is), so the
 * flood's client work in this process does not delay the probes; stop() returns the results. */
export function startProber(
  baseUrl: string,
  paths: readonly string[],
  timeoutMs: number,
  everyMs = 1000,
): { stop(): Promise<ProbeResult[]> } {
  const child = spawn(
    process.execPath,
    [
      fileURLToPath(import.meta.url),
      'probe',
      baseUrl,
      String(timeoutMs),
      String(everyMs),
      ...paths,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const out: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    async stop() {
      child.stdin.end();
      await exited;
      return JSON.parse(Buffer.concat(out).toString() || '[]') as ProbeResult[];
    },
  };
}

/** The prober process: probes until its stdin closes, then prints the results as JSON. */
async function proberMain(args: string[]): Promise<void> {
  const [baseUrl = '', timeoutMs = '1000', everyMs = '1000', ...paths] = args;
  const results: ProbeResult[] = [];
  const pending: Promise<void>[] = [];
  const timer = setInterval(() => {
    for (const path of paths)
      pending.push(probe(baseUrl, path, Number(timeoutMs)).then((r) => void results.push(r)));
  }, Number(everyMs));
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.on('end', resolve));
  clearInterval(timer);
  await Promise.all(pending);
  process.stdout.write(JSON.stringify(results));
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === 'probe') {
  await proberMain(process.argv.slice(3));
}
