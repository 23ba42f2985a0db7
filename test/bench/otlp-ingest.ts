// OTLP ingest throughput: the receiver on 127.0.0.1 with the real session join behind it, fed
// realistic 100-span batches over HTTP from this process, first JSON then protobuf. Every span is
// a model call: each is read, claimed in the dedupe set and collected; once a second the calls
// are priced and turned into their ledger `calls` entries (as a tick does), which gives the
// ledger bytes per million calls.
// Run: node test/bench/otlp-ingest.ts [seconds per encoding, default 5]
import { cpus } from 'node:os';
import { GENESIS_PREV, sealEntryLine } from '@agentmeter/crds';
import { callsBodies } from '../../node-agent/src/batches/calls-bodies.ts';
import { testPricer } from '../../node-agent/src/batches/test-pricer.ts';
import { Agent, request } from 'node:http';
import { encodeExportRequest } from '../../node-agent/src/otlp/decode-protobuf.ts';
import { makeTraceBatch } from '../../node-agent/src/otlp/test-payloads.ts';
import { startTestReceiver } from '../../node-agent/src/otlp/test-server.ts';
import { SessionIngest } from '../../node-agent/src/sessions/ingest.ts';
import { Settlement } from '../../node-agent/src/sessions/settlement.ts';

const SECONDS = Number(process.argv[2] ?? '5');
const SPANS_PER_REQUEST = 100;
const CONCURRENCY = 4;
/** Distinct request bodies (their span ids differ), so calls are new, not duplicates. */
const BATCHES = 1200;

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
const { pricer, ref } = testPricer({
  currency: 'USD',
  rates: { tokens: [{ model: '*', inputPerMillion: '0.05', outputPerMillion: '0.08' }] },
});
const ledger = { calls: 0, entries: 0, bytes: 0 };
/** A tick: the calls collected so far become priced `calls` entries, sealed as the ledger does. */
function tick(): void {
  const time = { start: '1', end: '2' };
  for (const group of ingest.calls.drain()) {
    const id = group.sessionKey.slice(group.sessionKey.indexOf('/') + 1);
    const session = id === '' ? null : { namespace: pod.namespace, id };
    const { bodies } = callsBodies('1', time, group.pod, session, group.calls, {
      ref,
      price: (usage) => pricer.priceCall(ref, usage),
    });
    for (const body of bodies) {
      const sealed = sealEntryLine(
        { node: 'bench-node', agentId: 'bench', ...body },
        GENESIS_PREV,
        1n,
      );
      ledger.calls += body.calls.length;
      ledger.entries++;
      ledger.bytes += Buffer.byteLength(sealed.line) + 1;
    }
  }
  ingest.flush();
}
const ticker = setInterval(tick, 1000);
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

let seedBase = 0;
async function run(encoding: 'json' | 'protobuf', concurrency: number, label: string) {
  const now = BigInt(Date.now()) * 1_000_000n;
  const duplicatesBefore = ingest.counters.duplicateCalls;
  seedBase += BATCHES;
  const bodies = Array.from({ length: BATCHES }, (_, i) => {
    const batch = makeTraceBatch({
      spans: SPANS_PER_REQUEST,
      seed: seedBase + i + 1,
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
        // Taken before the await, so concurrent requests send different bodies. A socket the
        // server closed while bodies were being built for this run counts as a failure.
        const body = bodies[requests++ % BATCHES] as Buffer;
        const status = await post(body, type).catch(() => 0);
        latenciesNs.push(process.hrtime.bigint() - t);
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
      `  (${requests} requests, ${failures} non-200, ~${Math.round(bytes / 1024)} KiB each, ` +
      `${ingest.counters.duplicateCalls - duplicatesBefore} duplicate calls)`,
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
clearInterval(ticker);
tick();
agent.destroy();
await rx.close();
console.log(
  `ledger: ${ledger.calls} calls in ${ledger.entries} calls entries, ${ledger.bytes} bytes: ` +
    `${Math.round(((ledger.bytes / ledger.calls) * 1e6) / 1048576)} MiB per million calls; ` +
    `dedupe set ${ingest.dedupe.keys} keys in ${ingest.dedupe.bytes} bytes ` +
    `(${(ingest.dedupe.bytes / Math.max(1, ingest.dedupe.keys)).toFixed(1)} bytes a key)`,
);
