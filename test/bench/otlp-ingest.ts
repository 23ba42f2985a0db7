// OTLP ingest throughput: the receiver on 127.0.0.1 with the real session join behind it, fed
// realistic 100-span batches over HTTP from this process, first JSON then protobuf.
// Run: node test/bench/otlp-ingest.ts [seconds per encoding, default 5]
import { cpus } from 'node:os';
import { Agent, request } from 'node:http';
import { encodeExportRequest } from '../../node-agent/src/otlp/decode-protobuf.ts';
import { makeTraceBatch } from '../../node-agent/src/otlp/test-payloads.ts';
import { startTestReceiver } from '../../node-agent/src/otlp/test-server.ts';
import { SessionIngest } from '../../node-agent/src/sessions/ingest.ts';
import { Settlement } from '../../node-agent/src/sessions/settlement.ts';

const SECONDS = Number(process.argv[2] ?? '5');
const SPANS_PER_REQUEST = 100;
const CONCURRENCY = 4;
const BATCHES = 64;

const pod = {
  uid: 'pod-uid',
  namespace: 'team-a',
  name: 'runtime-0',
  podIPs: ['127.0.0.1'],
  hostNetwork: false,
};
const settlement = new Settlement<{ cpuNs: bigint }>();
const ingest = new SessionIngest({
  pods: {
    podsByIp: (ip) => (ip === '127.0.0.1' ? [pod] : []),
    podByUid: (uid) => (uid === pod.uid ? pod : undefined),
  },
  settlement,
  clock: () => BigInt(Date.now()) * 1_000_000n,
});
const rx = await startTestReceiver({ sink: ingest });
const url = new URL(rx.url);
const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function post(body: Buffer, type: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent,
        headers: { 'content-type': type, 'content-length': body.length },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function run(encoding: 'json' | 'protobuf', concurrency: number, label: string) {
  const now = BigInt(Date.now()) * 1_000_000n;
  const bodies = Array.from({ length: BATCHES }, (_, i) => {
    const batch = makeTraceBatch({
      spans: SPANS_PER_REQUEST,
      seed: i + 1,
      sessions: 20,
      startNs: now - 60_000_000_000n,
      podUid: pod.uid,
    });
    return encoding === 'json'
      ? Buffer.from(JSON.stringify(batch))
      : Buffer.from(encodeExportRequest(batch));
  });
  const type = encoding === 'json' ? 'application/json' : 'application/x-protobuf';
  const latenciesNs: bigint[] = [];
  let requests = 0;
  let failures = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(SECONDS) * 1_000_000_000n;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (process.hrtime.bigint() < deadline) {
        const t = process.hrtime.bigint();
        const status = await post(bodies[requests % BATCHES] as Buffer, type);
        latenciesNs.push(process.hrtime.bigint() - t);
        requests++;
        if (status !== 200) failures++;
      }
    }),
  );
  const elapsedNs = process.hrtime.bigint() - start;
  latenciesNs.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const p99 =
    latenciesNs[Math.min(latenciesNs.length - 1, Math.floor((latenciesNs.length * 99) / 100))] ??
    0n;
  const spansPerSecond = (BigInt(requests * SPANS_PER_REQUEST) * 1_000_000_000n) / elapsedNs;
  const bytes = bodies.reduce((n, b) => n + b.length, 0) / BATCHES;
  console.log(
    `${label.padEnd(20)} ${encoding.padEnd(8)} ${String(spansPerSecond).padStart(8)} spans/s  p99 ${(Number(p99 / 1000n) / 1000).toFixed(2)} ms per ${SPANS_PER_REQUEST}-span request` +
      `  (${requests} requests, ${failures} non-200, ~${Math.round(bytes / 1024)} KiB each)`,
  );
}

console.log(
  `machine: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores, Node ${process.version}`,
);
console.log(
  `receiver and client share one process (one core for the receiver's JS); ${SECONDS} s per run`,
);
// Throughput with several connections in flight; latency one request at a time, so the p99 is
// the service time of a 100-span request rather than time spent queued behind others.
for (const encoding of ['json', 'protobuf'] as const) {
  await run(encoding, CONCURRENCY, `${CONCURRENCY} connections`);
  await run(encoding, 1, '1 connection');
}
agent.destroy();
await rx.close();
