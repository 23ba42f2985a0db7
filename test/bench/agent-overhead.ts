// The node agent's own cost at scale: 250 pods with live processes in kubelet-style cgroups on
// this host, bound to a node on a real apiserver, metered by the real agent process at a 10 s and
// at a 1 s tick. Prints the agent's CPU as a percentage of one core, its peak RSS and the time to
// render /metrics. Run: node test/bench/agent-overhead.ts [seconds-per-phase, default 60]
// Comparing builds or flags on a noisy machine: AGENTMETER_BENCH_VARIANTS runs several agents
// interleaved in one run, each tick setting taking every variant in turn (the order rotating
// each round, AGENTMETER_BENCH_ROUNDS, default 1). Variants are separated by ';', each
// `LABEL=SCRIPT [NODE-FLAG ...]`: SCRIPT is a bundle's main.js, or '-' for this checkout's; flags
// given replace the image's. E.g. 'image=-;default-compilers=- --max-semi-space-size=1 --expose-gc'.
// Calls: AGENTMETER_BENCH_CALLS_PER_SECOND (default 0) has one pod export that many model-call
// spans a second over OTLP/protobuf during each measured phase, from the pod's own address, in
// one request a second (as an SDK's batch processor sends them); each span is a new call.
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { Agent as HttpAgent, request } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { buildProgram, distDir, program } from '../../hack/build-dist.ts';
import { startControlPlane } from '../../hack/control-plane.ts';
import { encodeExportRequest } from '../../node-agent/src/otlp/decode-protobuf.ts';
import { makeTraceBatch } from '../../node-agent/src/otlp/test-payloads.ts';
import { AgentProcess } from '../support/agent-process.ts';
import { createPodCgroup, removePrefix, type TestPodCgroup } from '../support/cgroups.ts';
import { imageEnv, nodeEntrypoint } from '../support/dockerfile.ts';

const IMAGE = nodeEntrypoint('node-agent/Dockerfile');
const AGENT_BUNDLE = join(distDir('agent'), IMAGE.script);
const PODS = 250;
const PHASE_SECONDS = Number(process.argv[2] ?? '60');
const NODE = 'bench-node';
const PREFIX = `agentmeter-overhead-${randomBytes(3).toString('hex')}`;
const CLK_TCK = 100n;
/** Spreads successive scrapes evenly over the tick period (a low-discrepancy sequence). */
const GOLDEN_FRACTION = (Math.sqrt(5) - 1) / 2;
const ROUNDS = Number(process.env.AGENTMETER_BENCH_ROUNDS ?? '1');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const CALLS_PER_SECOND = Number(process.env.AGENTMETER_BENCH_CALLS_PER_SECOND ?? '0');
/** The address of the pod that exports calls (any 127/8 address is local on Linux). */
const CALLS_POD_IP = '127.0.0.10';

/** What the agent answered to the calls feeder. */
interface FeedStats {
  spans: number;
  byStatus: Map<number, number>;
}

/** Sends CALLS_PER_SECOND model-call spans a second from the calls pod until stop(). */
function feedCalls(otlpUrl: string, podUid: string): { stop(): Promise<FeedStats> } {
  const url = new URL('/v1/traces', otlpUrl);
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  const stats: FeedStats = { spans: 0, byStatus: new Map() };
  let seed = Math.floor(Math.random() * 1e6) * 1000;
  const send = async (): Promise<void> => {
    const body = Buffer.from(
      encodeExportRequest(
        makeTraceBatch({
          spans: CALLS_PER_SECOND,
          seed: ++seed,
          sessions: 20,
          startNs: BigInt(Date.now() - 2000) * 1_000_000n,
          podUid,
        }),
      ),
    );
    const status = await new Promise<number>((resolve) => {
      const req = request(
        url,
        {
          method: 'POST',
          agent,
          localAddress: CALLS_POD_IP,
          headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', () => resolve(0));
      req.end(body);
    });
    stats.spans += CALLS_PER_SECOND;
    stats.byStatus.set(status, (stats.byStatus.get(status) ?? 0) + 1);
  };
  let sending = Promise.resolve();
  const timer = setInterval(() => {
    sending = sending.then(send);
  }, 1000);
  return {
    async stop() {
      clearInterval(timer);
      await sending;
      agent.destroy();
      return stats;
    },
  };
}

async function cpuTicks(pid: number): Promise<bigint> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may contain spaces, start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return BigInt(fields[11] ?? '0') + BigInt(fields[12] ?? '0');
}

async function peakRssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1] ?? '0');
}

/**
 * CPU milliseconds of a fixed workload (hashing, JSON, BigInt arithmetic) in this process. A
 * virtual machine's speed drifts with its neighbours, and the agent's figures drift with it;
 * printed beside them so runs can be compared. Lower is faster.
 */
function referenceWorkloadMs(): number {
  const start = process.cpuUsage();
  const data = Buffer.alloc(8 * 1024 * 1024, 7);
  for (let i = 0; i < 4; i++) createHash('sha256').update(data).digest('hex');
  const doc = Array.from({ length: 2000 }, (_, i) => ({ i, name: `pod-${i}`, v: String(i * 7) }));
  for (let i = 0; i < 20; i++) JSON.parse(JSON.stringify(doc));
  let sum = 0n;
  for (let i = 0n; i < 200_000n; i++) sum += (i * 1_000_000_007n) % 97n;
  if (sum < 0n) throw new Error('unreachable');
  const used = process.cpuUsage(start);
  return Math.round((used.user + used.system) / 1000);
}

/** One GET /metrics, timed from request to the last byte. */
async function timedScrape(url: string): Promise<{ ms: number; body: string }> {
  const t0 = process.hrtime.bigint();
  const body = await (await fetch(`${url}/metrics`)).text();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, body };
}

/** The agent's own tick-duration histogram: wall time from a tick's start to its batch written. */
function tickDurations(body: string): { sum: number; count: number } {
  const value = (name: string): number =>
    Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(body)?.[1] ?? Number.NaN);
  return {
    sum: value('agentmeter_tick_duration_seconds_sum'),
    count: value('agentmeter_tick_duration_seconds_count'),
  };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** One agent build and its node flags, measured in turn with the others. */
interface Variant {
  readonly label: string;
  readonly script: string;
  readonly flags: readonly string[];
}

function variants(): Variant[] {
  const extra = (process.env.AGENTMETER_BENCH_AGENT_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const spec = process.env.AGENTMETER_BENCH_VARIANTS;
  if (spec === undefined || spec === '') {
    // What the image runs, or the TypeScript sources for readable profile frames (run from the
    // repository root); profiling runs add flags (AGENTMETER_BENCH_AGENT_NODE_FLAGS=--cpu-prof).
    const sources = process.env.AGENTMETER_BENCH_AGENT_SOURCE === '1';
    return [
      {
        label: 'image',
        script: sources ? 'node-agent/src/main.ts' : AGENT_BUNDLE,
        flags: [...IMAGE.flags, ...extra],
      },
    ];
  }
  return spec.split(';').map((item) => {
    const match = /^\s*([\w.-]+)=(\S+)((?:\s+\S+)*)\s*$/.exec(item);
    if (match === null) throw new Error(`variant must be LABEL=SCRIPT [FLAG ...], got "${item}"`);
    const [, label, script, flags] = match as unknown as [string, string, string, string];
    const given = flags.split(' ').filter(Boolean);
    return {
      label,
      script: script === '-' ? AGENT_BUNDLE : script,
      flags: [...(given.length > 0 ? given : IMAGE.flags), ...extra],
    };
  });
}

interface PhaseResult {
  cpuPercent: string;
  peakRssMiB: string;
  metricsMs: { first: number; p50: number; p99: number; duringTickMax: number };
  tickMeanMs: number;
  referenceMs: [number, number];
  feed: FeedStats | null;
}

async function phase(
  tick: string,
  variant: Variant,
  kubeconfig: string,
  token: string,
  callsPodUid: string,
): Promise<PhaseResult> {
  const tickMs = Number(/^(\d+)s$/.exec(tick)?.[1] ?? Number.NaN) * 1000;
  if (!Number.isSafeInteger(tickMs)) throw new Error(`tick must be whole seconds, got ${tick}`);
  const stateDir = await mkdtemp(join(tmpdir(), 'agentmeter-bench-'));
  const agent = await AgentProcess.start({
    nodeName: NODE,
    kubeconfig,
    stateDir,
    host: '127.0.0.9',
    tick,
    // The shipped default: one ledger batch per 10 s of measured time.
    ledgerInterval: '10s',
    token,
    extraArgs: ['--log-level=warn'],
    entry: variant.script,
    env: imageEnv('node-agent/Dockerfile'),
    nodeFlags: variant.flags,
  });
  try {
    await agent.waitReady(120_000);
    const pid = agent.child.pid as number;
    // The first scrape after start compiles the render path's functions; it is timed apart from
    // the steady-state scrapes, as start-up is apart from the steady-state CPU.
    const firstScrapeMs = (await timedScrape(agent.metricsUrl)).ms;
    // Let start-up (pod watch list, first ticks) settle before measuring steady state.
    await sleep(Math.min(15_000, PHASE_SECONDS * 250));
    const referenceBefore = referenceWorkloadMs();
    const feeder = CALLS_PER_SECOND > 0 ? feedCalls(agent.otlpUrl, callsPodUid) : null;
    const startTicks = await cpuTicks(pid);
    const startNs = process.hrtime.bigint();
    const renderMs: number[] = [];
    const duringTickMs: number[] = [];
    let firstTicks: { sum: number; count: number } | undefined;
    let lastTicks: { sum: number; count: number } | undefined;
    const deadline = Date.now() + PHASE_SECONDS * 1000;
    // One scrape per 10 s, about a Prometheus scrape interval: the scrapes are part of the
    // agent's real cost. The agent's ticks fall on wall-clock multiples of the tick, so a fixed
    // scrape interval would keep one phase against them for the whole run. Every other scrape
    // lands in the first 100 ms of a tick, where the tick's own work runs; the others are spread
    // over the whole tick period.
    const firstBoundary = Math.ceil(Date.now() / 10_000) * 10_000;
    for (let k = 0; firstBoundary + k * 10_000 < deadline; k++) {
      const duringTick = k % 2 === 1;
      const offsetMs = duringTick
        ? ((k >> 1) % 11) * 10
        : Math.floor(((k * GOLDEN_FRACTION) % 1) * tickMs);
      await sleep(Math.max(0, firstBoundary + k * 10_000 + offsetMs - Date.now()));
      const { ms, body } = await timedScrape(agent.metricsUrl);
      renderMs.push(ms);
      if (duringTick) duringTickMs.push(ms);
      const ticks = tickDurations(body);
      firstTicks ??= ticks;
      lastTicks = ticks;
      if (!body.includes('agentmeter_pod_cpu_usage_seconds_total')) {
        throw new Error('/metrics has no pod series: the agent is not metering the bench pods');
      }
    }
    const usedTicks = (await cpuTicks(pid)) - startTicks;
    const elapsedNs = process.hrtime.bigint() - startNs;
    const feed = feeder === null ? null : await feeder.stop();
    // CPU seconds / wall seconds, as a percentage of one core, with two decimals.
    const basisPoints = (usedTicks * 1_000_000_000n * 10_000n) / (CLK_TCK * elapsedNs);
    const peak = await peakRssKiB(pid);
    const referenceAfter = referenceWorkloadMs();
    return {
      feed,
      referenceMs: [referenceBefore, referenceAfter],
      cpuPercent: `${basisPoints / 100n}.${String(basisPoints % 100n).padStart(2, '0')}`,
      peakRssMiB: (peak / 1024).toFixed(1),
      metricsMs: {
        first: firstScrapeMs,
        p50: percentile(renderMs, 50),
        p99: percentile(renderMs, 99),
        duringTickMax: Math.max(...duringTickMs),
      },
      tickMeanMs:
        firstTicks === undefined || lastTicks === undefined || lastTicks.count === firstTicks.count
          ? Number.NaN
          : ((lastTicks.sum - firstTicks.sum) * 1000) / (lastTicks.count - firstTicks.count),
    };
  } finally {
    await agent.stop();
    await rm(stateDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  await buildProgram(program('agent'));
  const plane = await startControlPlane({ log: () => undefined });
  const groups: TestPodCgroup[] = [];
  const sleepers: ChildProcess[] = [];
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(plane.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    const namespaces = ['bench-a', 'bench-b', 'bench-c', 'bench-d', 'bench-e'];
    for (const name of namespaces) await core.createNamespace({ body: { metadata: { name } } });
    let callsPodUid = '';
    for (let i = 0; i < PODS; i++) {
      const namespace = namespaces[i % namespaces.length] as string;
      const pod = await core.createNamespacedPod({
        namespace,
        body: {
          metadata: { name: `pod-${i}` },
          spec: { nodeName: NODE, containers: [{ name: 'main', image: 'example.invalid/app:1' }] },
        },
      });
      const group = await createPodCgroup({
        uid: pod.metadata?.uid ?? '',
        prefix: PREFIX,
        qos: i % 3 === 0 ? 'Guaranteed' : i % 3 === 1 ? 'Burstable' : 'BestEffort',
      });
      groups.push(group);
      sleepers.push(group.run('sleep', ['3600']));
      if (i === 0) {
        // The pod that exports calls: its address is what the agent checks spans against.
        callsPodUid = pod.metadata?.uid ?? '';
        await core.replaceNamespacedPodStatus({
          namespace,
          name: 'pod-0',
          body: {
            metadata: { name: 'pod-0', namespace },
            status: { phase: 'Running', podIP: CALLS_POD_IP, podIPs: [{ ip: CALLS_POD_IP }] },
          },
        });
      }
    }
    const measured = variants();
    process.stdout.write(
      `machine: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores, Node ${process.version}, Linux ${release()}, load ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}\n` +
        `pods: ${PODS} with live processes, ${PHASE_SECONDS} s measured per tick setting, ${ROUNDS} round(s), ` +
        `${CALLS_PER_SECOND} OTLP model calls a second from one pod\n` +
        `agent env: ${Object.entries(imageEnv('node-agent/Dockerfile'))
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')} (node-agent/Dockerfile)\n` +
        measured.map((v) => `variant ${v.label}: node ${v.flags.join(' ')} ${v.script}\n`).join(''),
    );
    const results = new Map<string, PhaseResult[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const tick of (process.env.AGENTMETER_BENCH_TICKS ?? '10s,1s').split(',')) {
        // The order rotates each round, so no variant always follows the same one.
        const order = measured.map((_, i) => measured[(i + round) % measured.length] as Variant);
        for (const variant of order) {
          const r = await phase(tick, variant, plane.kubeconfig, plane.admin.token, callsPodUid);
          const key = `${tick.padStart(3)} ${variant.label}`;
          results.set(key, [...(results.get(key) ?? []), r]);
          process.stdout.write(
            `round ${round + 1} tick ${tick.padStart(3)} ${variant.label}: agent CPU ${r.cpuPercent}% of one core, peak RSS ${r.peakRssMiB} MiB, ` +
              `/metrics render p50 ${r.metricsMs.p50.toFixed(1)} ms p99 ${r.metricsMs.p99.toFixed(1)} ms ` +
              `(landing in a tick's first 100 ms: max ${r.metricsMs.duringTickMax.toFixed(1)} ms; ` +
              `first scrape after start ${r.metricsMs.first.toFixed(1)} ms), ` +
              `tick wall time mean ${r.tickMeanMs.toFixed(1)} ms ` +
              `(reference workload ${r.referenceMs[0]}/${r.referenceMs[1]} ms before/after)` +
              (r.feed === null
                ? ''
                : `; calls fed ${r.feed.spans}, answers ${[...r.feed.byStatus].map(([s, n]) => `${s}=${n}`).join(' ')}`) +
              '\n',
          );
        }
      }
    }
    if (ROUNDS > 1 || measured.length > 1) {
      process.stdout.write('summary (each round, in order):\n');
      for (const [key, rs] of [...results].sort(([a], [b]) => a.localeCompare(b))) {
        const list = (f: (r: PhaseResult) => string): string => rs.map(f).join(' ');
        process.stdout.write(
          `tick ${key}: CPU % ${list((r) => r.cpuPercent)} | peak RSS MiB ${list((r) => r.peakRssMiB)} | ` +
            `/metrics p99 ms ${list((r) => r.metricsMs.p99.toFixed(1))} | tick ms ${list((r) => r.tickMeanMs.toFixed(0))}\n`,
        );
      }
    }
  } finally {
    for (const child of sleepers) child.kill('SIGKILL');
    for (const group of groups) await group.remove().catch(() => undefined);
    await removePrefix(PREFIX);
    await plane.stop();
  }
}

await main();
