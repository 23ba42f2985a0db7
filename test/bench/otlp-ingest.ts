// OTLP ingest throughput on one core: the receiver on 127.0.0.1 with the real session join
// behind it, fed realistic 100-span batches over HTTP, first JSON then protobuf. Every span is a
// model call: each is read, claimed in the dedupe set and collected; once a second the calls are
// priced and turned into their ledger `calls` entries (as a tick does), which gives the ledger
// bytes per million calls.
//
// The client is a child process (this script with BENCH_ROLE=client): it builds and encodes
// every request body before a run and posts them over keep-alive connections. Until 2026-12-07
// it ran in this process, so its encoding and HTTP client counted against the receiver's core.
// The figure is spans per second of the receiver's CPU time: process.cpuUsage of this process
// (user + system, every thread, so V8's GC helpers count too) over the run, which ends with the
// tick that seals the run's calls. The wall-clock rate is printed beside it.
// What it leaves out: the settlement of pod usage (no ticks are measured here), the ledger's
// file writes and compression.
// Run: node test/bench/otlp-ingest.ts [seconds per encoding, default 5]
import { fork, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { GENESIS_PREV, sealEntryLine } from '@agentmeter/crds';
import { callsBodies } from '../../node-agent/src/batches/calls-bodies.ts';
import { testPricer } from '../../node-agent/src/batches/test-pricer.ts';
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
const POD_UID = 'pod-uid';

type Encoding = 'json' | 'protobuf';
interface RunOrder {
  readonly url: string;
  readonly encoding: Encoding;
  readonly concurrency: number;
  readonly seedBase: number;
  readonly startNs: string;
}
interface RunReport {
  readonly requests: number;
  readonly failures: number;
  readonly p99Ns: string;
  readonly bytesPerRequest: number;
}
type ToClient = { readonly build: RunOrder } | { readonly go: true };
type ToReceiver = { readonly ready: true } | { readonly done: RunReport };

function send(to: ChildProcess | NodeJS.Process, message: ToClient | ToReceiver): void {
  (to.send as (m: unknown) => boolean)(message);
}

// ---------------------------------------------------------------------------------------------
// The client (child process)

function post(agent: Agent, url: URL, body: Buffer, type: string): Promise<number> {
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

function buildBodies(order: RunOrder): Buffer[] {
  return Array.from({ length: BATCHES }, (_, i) => {
    const batch = makeTraceBatch({
      spans: SPANS_PER_REQUEST,
      seed: order.seedBase + i + 1,
      sessions: 20,
      startNs: BigInt(order.startNs),
      podUid: POD_UID,
    });
    return order.encoding === 'json'
      ? Buffer.from(JSON.stringify(batch))
      : Buffer.from(encodeExportRequest(batch));
  });
}

async function clientRun(order: RunOrder, bodies: Buffer[]): Promise<RunReport> {
  const url = new URL(order.url);
  const agent = new Agent({ keepAlive: true, maxSockets: order.concurrency });
  const type = order.encoding === 'json' ? 'application/json' : 'application/x-protobuf';
  const latenciesNs: bigint[] = [];
  let requests = 0;
  let failures = 0;
  const deadline = process.hrtime.bigint() + BigInt(SECONDS) * 1_000_000_000n;
  await Promise.all(
    Array.from({ length: order.concurrency }, async () => {
      while (process.hrtime.bigint() < deadline) {
        const t = process.hrtime.bigint();
        // Taken before the await, so concurrent requests send different bodies.
        const body = bodies[requests++ % BATCHES] as Buffer;
        const status = await post(agent, url, body, type).catch(() => 0);
        latenciesNs.push(process.hrtime.bigint() - t);
        if (status !== 200) failures++;
      }
    }),
  );
  agent.destroy();
  latenciesNs.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const p99 =
    latenciesNs[Math.min(latenciesNs.length - 1, Math.floor((latenciesNs.length * 99) / 100))] ??
    0n;
  const bytes = bodies.reduce((n, b) => n + b.length, 0) / BATCHES;
  return { requests, failures, p99Ns: p99.toString(), bytesPerRequest: bytes };
}

function client(): void {
  let order: RunOrder | undefined;
  let bodies: Buffer[] = [];
  process.on('message', (message: ToClient) => {
    if ('build' in message) {
      order = message.build;
      bodies = buildBodies(order);
      send(process, { ready: true });
      return;
    }
    if (order === undefined) throw new Error('go before build');
    void clientRun(order, bodies).then((done) => send(process, { done }));
  });
  process.on('disconnect', () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------
// The receiver (this process)

async function receiver(): Promise<void> {
  const pod = {
    uid: POD_UID,
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
  const child = fork(process.argv[1] as string, [String(SECONDS)], {
    env: { ...process.env, BENCH_ROLE: 'client' },
    // Node's default flags: this process's (--no-opt, --cpu-prof, …) are for the receiver.
    execArgv: [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = (): Promise<ToReceiver> =>
    new Promise((resolve) => child.once('message', (m: ToReceiver) => resolve(m)));

  let seedBase = 0;
  async function run(encoding: Encoding, concurrency: number, label: string): Promise<void> {
    seedBase += BATCHES;
    const startNs = (BigInt(Date.now()) * 1_000_000n - 60_000_000_000n).toString();
    send(child, { build: { url: rx.url, encoding, concurrency, seedBase, startNs } });
    await next();
    // The calls of the bodies' build time are sealed before the clock starts.
    tick();
    const accepted = ingest.counters.accepted;
    const duplicates = ingest.counters.duplicateCalls;
    const cpu = process.cpuUsage();
    const start = process.hrtime.bigint();
    send(child, { go: true });
    const message = await next();
    if (!('done' in message)) throw new Error('client answered out of order');
    tick();
    const wallNs = process.hrtime.bigint() - start;
    const used = process.cpuUsage(cpu);
    const cpuUs = used.user + used.system;
    const spans = ingest.counters.accepted - accepted;
    const report = message.done;
    const perCpuSecond = Math.round((spans * 1e6) / cpuUs);
    const perSecond = Math.round((spans * 1e9) / Number(wallNs));
    const p99Ms = (Number(BigInt(report.p99Ns) / 1000n) / 1000).toFixed(2);
    console.log(
      `${label.padEnd(14)} ${encoding.padEnd(8)} ${String(perCpuSecond).padStart(7)} spans per CPU-second ` +
        `(${String(perSecond).padStart(7)} spans/s wall, receiver CPU ${((cpuUs * 1e5) / Number(wallNs)).toFixed(0)}% of a core)` +
        `  p99 ${p99Ms} ms per ${SPANS_PER_REQUEST}-span request` +
        `  (${report.requests} requests, ${report.failures} non-200, ~${Math.round(report.bytesPerRequest / 1024)} KiB each, ` +
        `${ingest.counters.duplicateCalls - duplicates} duplicate calls)`,
    );
  }

  console.log(
    `machine: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores, Node ${process.version}, ` +
      `flags [${process.execArgv.join(' ')}], load ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
  );
  console.log(`client in a child process; receiver CPU counted alone; ${SECONDS} s per run`);
  // Throughput with several connections in flight; latency one request at a time, so the p99 is
  // the service time of a 100-span request rather than time spent queued behind others.
  for (const encoding of ['json', 'protobuf'] as const) {
    await run(encoding, CONCURRENCY, `${CONCURRENCY} connections`);
    await run(encoding, 1, '1 connection');
  }
  clearInterval(ticker);
  child.disconnect();
  await rx.close();
  console.log(
    `ledger: ${ledger.calls} calls in ${ledger.entries} calls entries, ${ledger.bytes} bytes: ` +
      `${Math.round(((ledger.bytes / ledger.calls) * 1e6) / 1048576)} MiB per million calls; ` +
      `dedupe set ${ingest.dedupe.keys} keys in ${ingest.dedupe.bytes} bytes ` +
      `(${(ingest.dedupe.bytes / Math.max(1, ingest.dedupe.keys)).toFixed(1)} bytes a key)`,
  );
}

if (process.env.BENCH_ROLE === 'client') client();
else await receiver();
