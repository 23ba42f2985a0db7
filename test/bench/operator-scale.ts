// Operator scale: 500 simulated agents' ledgers (real LedgerStores of sealed pod-usage batches,
// served by the real agent HTTP app in a child process), 1,000 namespaces and 200 CostPolicies
// on a real apiserver of its own, through the real collection + reconcile code
// (CostPolicyController.round). Prints the time of a full round, the peak RSS of this process
// (the operator side only: the agents live in the child), the operator process's CPU seconds per
// round (user + system: less sensitive than the round time to other work on the machine), the
// TLS connections it opened to the apiserver and the apiserver writes per round; a second round
// with no new entries must write nothing.
// Run: node test/bench/operator-scale.ts   (AGENTS=500 NAMESPACES=1000 POLICIES=200 TICKS=20)
// The operator side runs as the image runs the operator: the bench bundles itself the way
// hack/build-dist.ts bundles the operator (no TypeScript stripping at run time) and runs that
// under the V8 flags of operator/Dockerfile's ENTRYPOINT, printed with the figures.
// BENCH_NODE_FLAGS="..." replaces the image's flags, to compare settings.
import { spawn } from 'node:child_process';
import diagnostics from 'node:diagnostics_channel';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import express from 'express';
import { CustomObjectsApi, EventsV1Api } from '@kubernetes/client-node';
import { loadKubeConfig } from '@agentmeter/kube-client/kubeconfig';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { LedgerStore } from '../../node-agent/src/ledger/index.ts';
import { createAckRouter } from '../../node-agent/src/http/ack.ts';
import { createApp, listen } from '../../node-agent/src/http/server.ts';
import { podBody } from '../../operator/src/budgets/test-ledger.ts';
import type { Agent } from '../../operator/src/collect/agents.ts';
import { httpAgentApi } from '../../operator/src/collect/client.ts';
import { CostPolicyController } from '../../operator/src/controller/costpolicy.ts';
import { OperatorMetrics } from '../../operator/src/metrics.ts';
import { openStore } from '../../operator/src/store/open.ts';
import { EventRecorder, systemClock } from '../../operator/src/runtime/index.ts';
import { bundle, distDir } from '../../hack/build-dist.ts';
import { startControlPlane } from '../../hack/control-plane.ts';
import { nodeEntrypoint } from '../support/dockerfile.ts';

const AGENTS = Number(process.env.AGENTS ?? 500);
const NAMESPACES = Number(process.env.NAMESPACES ?? 1000);
const POLICIES = Number(process.env.POLICIES ?? 200);
const TICKS = Number(process.env.TICKS ?? 20);
const PODS_PER_AGENT = 8;

const policyOf = (ns: number): string => `bench-p${ns % POLICIES}`;

/** Child: writes every agent's ledger and serves them all; prints the agents as one JSON line. */
async function serveAgents(): Promise<void> {
  const dir = await mkdtemp(join(os.tmpdir(), 'agentmeter-bench-agents-'));
  const closers: (() => Promise<void>)[] = [];
  const startMs = Number(process.env.BENCH_START_MS);
  const agents: Agent[] = [];
  for (let a = 0; a < AGENTS; a++) {
    const node = `bench-node-${a}`;
    const store = await LedgerStore.open({
      dir: join(dir, String(a)),
      identity: { node, agentId: `agent-${a}` },
    });
    // A node's pods sit in a spread of namespaces, so every policy sees many nodes.
    for (let t = 0; t < TICKS; t++) {
      const bodies = Array.from({ length: PODS_PER_AGENT }, (_, p) => {
        const ns = (a * PODS_PER_AGENT + p) % NAMESPACES;
        return podBody(
          {
            namespace: `bench-ns-${ns}`,
            nano: BigInt(1_000_000 + ((a * 7919 + t * 104_729 + p * 31) % 9_000_000)),
            atMs: startMs + t * 10_000,
            policy: policyOf(ns),
            session: `s-${a}-${p}`,
          },
          p,
        );
      });
      await store.append(bodies);
    }
    const app = express();
    app.use(createAckRouter({ store, authorize: async () => true }));
    app.use(createApp({ ledger: store }));
    const server = await listen(app, '127.0.0.1', 0);
    agents.push({ node, url: `http://127.0.0.1:${server.port}` });
    closers.push(async () => {
      await server.close();
      await store.close();
    });
  }
  process.stdout.write(`${JSON.stringify(agents)}\n`);
  process.stdin.resume();
  process.stdin.on('end', async () => {
    for (const close of closers) await close();
    await rm(dir, { recursive: true, force: true });
    process.exit(0);
  });
}

async function main(): Promise<void> {
  const plane = await startControlPlane({ log: () => undefined });
  let child: ReturnType<typeof spawn> | undefined;
  const storeDir = await mkdtemp(join(os.tmpdir(), 'agentmeter-bench-store-'));
  try {
    await new Promise<void>((done, fail) => {
      const k = spawn(plane.binaries.kubectl, [
        '--kubeconfig',
        plane.kubeconfig,
        'apply',
        '--server-side',
        '-f',
        'crds/manifests',
      ]);
      k.on('exit', (code) => (code === 0 ? done() : fail(new Error(`kubectl apply: ${code}`))));
    });
    await new Promise((r) => setTimeout(r, 2000)); // CRDs established
    // The operator's own loading (main.ts), so its API clients reuse connections as the image's do.
    const kc = loadKubeConfig({ kubeconfig: plane.kubeconfig });
    const custom = kc.makeApiClient(CustomObjectsApi);
    for (let i = 0; i < POLICIES; i++) {
      await custom.createClusterCustomObject({
        group: 'agentmeter.dev',
        version: 'v1alpha1',
        plural: 'costpolicies',
        body: {
          apiVersion: 'agentmeter.dev/v1alpha1',
          kind: 'CostPolicy',
          metadata: { name: `bench-p${i}` },
          spec: {
            selector: { namespaceSelector: { matchLabels: { policy: `bench-p${i}` } } },
            currency: 'USD',
            rates: { cpuCoreHour: '0.05' },
            budgets: [
              { name: 'all', amount: '100000', period: 'Monthly', thresholds: [80] },
              { name: 'ns', amount: '100000', period: 'Monthly', scope: 'Namespace' },
              { name: 'session', amount: '100000', period: 'Daily', scope: 'Session' },
            ],
          },
        },
      });
    }
    // Entries are measured after the policies exist (older ones are not theirs to count).
    child = spawn(process.execPath, [process.argv[1] as string], {
      env: { ...process.env, BENCH_ROLE: 'agents', BENCH_START_MS: String(Date.now() + 1000) },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const stdout = child.stdout;
    if (stdout === null) throw new Error('no stdout from the agents process');
    const agents = await new Promise<Agent[]>((done) => {
      createInterface({ input: stdout }).once('line', (line) => done(JSON.parse(line) as Agent[]));
    });
    const logger = pino({ level: 'warn' });
    const registry = new Registry();
    const metrics = new OperatorMetrics(registry);
    // Status patch bodies as sent: their size is what the apiserver decodes, validates and stores.
    let statusBytes = 0;
    const patchStatus = custom.patchClusterCustomObjectStatus.bind(custom);
    const store = await openStore({ engine: 'sqlite', path: join(storeDir, 'store.db') });
    const controller = new CostPolicyController({
      store,
      custom: {
        listClusterCustomObject: custom.listClusterCustomObject.bind(custom),
        getClusterCustomObject: custom.getClusterCustomObject.bind(custom),
        createClusterCustomObject: custom.createClusterCustomObject.bind(custom),
        patchClusterCustomObjectStatus: (request, options) => {
          statusBytes += Buffer.byteLength(JSON.stringify(request.body));
          return patchStatus(request, options);
        },
      },
      agentApi: httpAgentApi({ token: async () => 'bench' }),
      discover: async () => agents,
      events: new EventRecorder({
        api: kc.makeApiClient(EventsV1Api),
        reportingInstance: 'bench',
        logger,
        registry,
        clock: systemClock,
      }),
      metrics,
      logger,
      clock: systemClock,
    });
    // TLS connections opened to the apiserver (the agents are plain HTTP): undici, which both
    // fetch and client-node use, reports each connection it makes on this channel.
    let apiserverConnections = 0;
    diagnostics.subscribe('undici:client:connected', (message) => {
      const { connectParams } = message as { connectParams: { protocol: string } };
      if (connectParams.protocol === 'https:') apiserverConnections++;
    });
    const writes = async (): Promise<number> =>
      (await metrics.apiWrites.get()).values.reduce((s, v) => s + v.value, 0);
    const rounds: {
      seconds: number;
      cpuSeconds: number;
      apiserverConnections: number;
      entries: number;
      writes: number;
      statusWrites: number;
      statusBytes: number;
    }[] = [];
    for (let r = 0; r < 2; r++) {
      const w0 = await writes();
      statusBytes = 0;
      apiserverConnections = 0;
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      const summary = await controller.round();
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      rounds.push({
        seconds,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        apiserverConnections,
        entries: summary.entries,
        writes: (await writes()) - w0,
        statusWrites: summary.statusWrites,
        statusBytes,
      });
      if (summary.unreachable.length > 0 || summary.refused.length > 0)
        throw new Error(`agents unreachable/refused: ${JSON.stringify(summary)}`);
    }
    const cpu = os.cpus();
    const [first, second] = rounds as [(typeof rounds)[0], (typeof rounds)[0]];
    const out = {
      machine: {
        cpu: cpu[0]?.model,
        cores: cpu.length,
        node: process.version,
        v8Flags: process.execArgv.join(' '),
        apiserver: plane.version,
      },
      agents: AGENTS,
      namespaces: NAMESPACES,
      policies: POLICIES,
      entries: first.entries,
      firstRound: {
        seconds: Number(first.seconds.toFixed(2)),
        operatorCpuSeconds: Number(first.cpuSeconds.toFixed(2)),
        apiserverConnections: first.apiserverConnections,
        apiserverWrites: first.writes,
        statusWrites: first.statusWrites,
        statusKiBPerWrite: Math.round(first.statusBytes / Math.max(1, first.statusWrites) / 1024),
      },
      secondRoundNoNewEntries: {
        seconds: Number(second.seconds.toFixed(2)),
        operatorCpuSeconds: Number(second.cpuSeconds.toFixed(2)),
        apiserverConnections: second.apiserverConnections,
        apiserverWrites: second.writes,
        statusWrites: second.statusWrites,
      },
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
      targets: {
        roundUnder10s: first.seconds < 10,
        rssAtMost300MiB: process.resourceUsage().maxRSS / 1024 <= 300,
        noWritesWithoutChange: second.writes === 0,
      },
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } finally {
    if (child) {
      child.stdin?.end();
      await new Promise((r) => child?.once('exit', r));
    }
    await plane.stop();
    await rm(storeDir, { recursive: true, force: true });
  }
}

/** Bundles this script and runs the bundle under `flags`; resolves with its exit code. */
async function asImage(flags: readonly string[]): Promise<number> {
  const outdir = join(distDir('bench'), 'operator-scale');
  await bundle({ 'operator-scale': 'test/bench/operator-scale.ts' }, outdir);
  const again = spawn(process.execPath, [...flags, join(outdir, 'operator-scale.js')], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_ROLE: 'operator' },
  });
  return new Promise((done) => again.once('exit', (code) => done(code ?? 1)));
}

if (process.env.BENCH_ROLE === 'agents') {
  await serveAgents();
} else if (process.env.BENCH_ROLE === 'operator') {
  await main();
} else {
  process.exitCode = await asImage(
    process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ??
      nodeEntrypoint('operator/Dockerfile').flags,
  );
}
