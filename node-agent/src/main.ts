// The node agent process: configuration → cgroup layout → ledger (recovering its baseline) → pod
// watch → sampler on a timer → HTTP. SIGTERM drains: a final tick, the ledger closed (every
// append is already fsynced), the watch stopped, the server closed.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { getHeapStatistics } from 'node:v8';
import express from 'express';
import { type Usage } from '@agentmeter/crds';
import { RestClient, loadRestConfig } from '@agentmeter/kube-client';
import { AttributionMetrics } from './attribution/metrics.ts';
import { PolicyPricer } from './attribution/policy-pricer.ts';
import { SessionBook } from './attribution/session-book.ts';
import { detectLayout, readNetNs } from './cgroup/index.ts';
import { ConfigError, configUsage, parseConfig, type AgentConfig } from './config.ts';
import { createAckRouter } from './http/ack.ts';
import { createTokenReviewAuthorizer } from './http/auth.ts';
import { AgentMetrics } from './http/metrics.ts';
import { createApp, listen, type Listening } from './http/server.ts';
import { sessionsRouter } from './http/sessions-api.ts';
import { createSessionsBudgetRouter, OverBudgetSessions } from './http/sessions-budget.ts';
import { LedgerStore } from './ledger/segment-store.ts';
import { createLogger, componentLogger, type Logger } from './log.ts';
import { otlpRouter } from './otlp/receiver.ts';
import type { PodMeta } from './pods/pod-meta.ts';
import { PodMetadata } from './pods/pod-metadata.ts';
import { HeapCap } from './runtime/heap-cap.ts';
import { Sampler } from './sampler/sampler.ts';
import { TickSettler, tokenKey } from './sampler/settler.ts';
import {
  SessionIngest,
  Settlement,
  TokenCounter,
  sessionFromAnnotations,
  sessionKeyString,
  type PodDirectory,
  type PodIdentity,
} from './sessions/index.ts';
import { startGpu } from './gpu-wiring.ts';

const USAGE = `Usage: node node-agent/src/main.ts [flags]

agentmeter node agent: meters every pod on this node from its cgroups, writes a hash-chained
ledger and serves /metrics, /healthz, /readyz and /v1/ledger.

Flags (each also settable by its environment variable; flags win):
`;

async function bootId(procRoot: string): Promise<string | undefined> {
  try {
    return (await readFile(join(procRoot, 'sys/kernel/random/boot_id'), 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/** Host network namespace, so host-network pods are not charged the node's NIC traffic. */
async function hostNetNs(procRoot: string, log: Logger): Promise<string | null> {
  for (const pid of [1, 'self'] as const) {
    try {
      return await readNetNs(procRoot, pid);
    } catch {
      // pid 1 may be unreadable without CAP_SYS_PTRACE; hostNetwork agents share it anyway.
    }
  }
  log.warn(
    { procRoot },
    'cannot read the host network namespace; host-network pods may be charged node traffic',
  );
  return null;
}

async function run(config: AgentConfig, log: Logger): Promise<void> {
  const hostRoot = config.cgroupRoot.endsWith('/sys/fs/cgroup')
    ? config.cgroupRoot.slice(0, -'/sys/fs/cgroup'.length)
    : '';
  const mountinfoPath = join(
    config.procRoot,
    config.procRoot === '/proc' ? 'self' : '1',
    'mountinfo',
  );
  const layout = await detectLayout({ mountinfoPath, hostRoot });
  log.info({ layout }, 'cgroup layout detected');

  const ledger = await LedgerStore.open({
    dir: config.stateDir,
    identity: {
      node: config.nodeName,
      agentId: randomUUID(),
      ...(await bootId(config.procRoot).then((id) => (id === undefined ? {} : { bootId: id }))),
    },
    segmentBytes: config.ledgerSegmentBytes,
    retention: { maxAgeNs: BigInt(config.ledgerRetentionMs) * 1_000_000n },
  });
  await ledger.append([
    {
      kind: 'marker',
      event: 'agent-start',
      time: (() => {
        const now = (BigInt(Date.now()) * 1_000_000n).toString();
        return { start: now, end: now };
      })(),
      detail: { pid: String(process.pid), tick: `${config.tickMs}ms` },
    },
  ]);
  const head = ledger.head();
  log.info({ seq: head.seq.toString(), hash: head.hash }, 'ledger open');

  const metrics = new AgentMetrics();
  const kube = new RestClient(
    await loadRestConfig(config.kubeconfig === undefined ? {} : { kubeconfig: config.kubeconfig }),
    { userAgent: 'agentmeter-node-agent' },
  );
  const pods = new PodMetadata({
    client: kube,
    nodeName: config.nodeName,
    logger: componentLogger(log, 'pods'),
  });
  pods.on('restart', (reason) => metrics.podWatchRestart(reason));
  pods.on('synced', () => metrics.setPodWatchSynced(true));
  const pricer = new PolicyPricer({ client: kube, log: componentLogger(log, 'pricing') });

  // Sessions: spans → activity and tokens; ticks wait `sessionWatermarkTicks` for late spans.
  const wallNs = (): bigint => BigInt(Date.now()) * 1_000_000n;
  const settlement = new Settlement<Usage>({ watermarkTicks: 0 });
  const tokens = new TokenCounter();
  const identity = (meta: PodMeta): PodIdentity => ({
    uid: meta.uid,
    namespace: meta.namespace,
    name: meta.name,
    podIPs: meta.podIPs,
    hostNetwork: meta.hostNetwork,
    annotations: meta.annotations,
  });
  const directory: PodDirectory = {
    podsByIp: (ip) => pods.byIp(ip).map(identity),
    podByUid: (uid) => {
      const meta = pods.byUid(uid);
      return meta === undefined || meta.terminated ? undefined : identity(meta);
    },
  };
  const ingest = new SessionIngest<Usage>({
    pods: directory,
    settlement,
    tokens,
    // Token keys name the pod too, so a tokens entry can say where the spans came from.
    tokenKey,
    clock: wallNs,
    strict: config.identityMode === 'strict',
  });
  const book = new SessionBook();
  const attribution = new AttributionMetrics({
    ingest: () => ingest.counters,
    lateSpans: () => settlement.lateSpans,
    activeSessions: () => book.activeByNamespace(wallNs() - 300_000_000_000n),
    pricedModels: () => pricer.pricedModels(),
  });
  metrics.extend((registry) => attribution.register(registry));

  // The pod-scoped session annotation applies from the moment it is seen, never before.
  const observe = (meta: PodMeta): void => {
    const session = sessionFromAnnotations(meta.annotations);
    const key =
      session.kind === 'session'
        ? sessionKeyString({ namespace: meta.namespace, id: session.id })
        : null;
    settlement.observeAnnotation(meta.uid, wallNs(), key);
  };
  pods.on('added', observe);
  pods.on('updated', observe);

  const settler = new TickSettler({
    settlement,
    tokens,
    pricer,
    podByUid: (uid) => pods.byUid(uid),
    watermarkTicks: config.sessionWatermarkTicks,
    // At short ticks several settled ticks make one batch, so ledger volume and sealing cost
    // follow the ledger interval rather than the tick.
    ticksPerBatch: Math.max(1, Math.round(config.ledgerIntervalMs / config.tickMs)),
    releaseSpans: (all) => ingest.flush(all),
  });
  const gpu = await startGpu(config, pods, metrics, componentLogger(log, 'gpu'));
  const sampler = new Sampler({
    layout,
    pods,
    ledger,
    metrics,
    log: componentLogger(log, 'sampler'),
    procRoot: config.procRoot,
    sysRoot: config.sysRoot,
    hostNetNs: await hostNetNs(config.procRoot, log),
    settler,
    pricer,
    ...(gpu === null ? {} : { gpu }),
    onBatch: (batch) => {
      book.apply(batch, wallNs());
      attribution.addBatch(batch);
    },
  });
  await sampler.recover();

  // A pod that goes away gets a final sample now, before the kubelet removes its cgroup.
  pods.onPodGone((_uid, meta) => {
    void sampler.tick('pod-gone').then(() => metrics.podGone(meta.namespace, meta.name));
  });

  // The operator's API (ledger pull, acknowledgements, session budget marks) is for its
  // ServiceAccount only: TokenReview for our audience, then SubjectAccessReview.
  const authorize = createTokenReviewAuthorizer({
    client: kube,
    logger: componentLogger(log, 'auth'),
  });
  const overBudget = new OverBudgetSessions();
  const app = createApp({
    metrics,
    ledger,
    readiness: {
      'pod-watch-synced': () => pods.synced,
      'ledger-open': () => true,
      'first-tick': () => sampler.ticks > 0n,
    },
    authorize,
    logger: componentLogger(log, 'http'),
    routers: [
      createAckRouter({ store: ledger, authorize }),
      createSessionsBudgetRouter({ sessions: overBudget, authorize }),
      sessionsRouter({
        book,
        node: config.nodeName,
        isOverBudget: (namespace, id) => overBudget.has(namespace, id),
      }),
    ],
  });
  const server: Listening = await listen(app, config.listen.host, config.listen.port);
  log.info({ host: server.host, port: server.port }, 'http listening');

  const otlpApp = express();
  otlpApp.disable('x-powered-by');
  otlpApp.use(
    otlpRouter({
      sink: ingest,
      maxBodyBytes: config.otlpMaxBodyBytes,
      clock: wallNs,
      onError: (err) => log.error({ err }, 'otlp receiver failed'),
    }),
  );
  const otlp: Listening = await listen(otlpApp, config.otlpListen.host, config.otlpListen.port);
  log.info({ host: otlp.host, port: otlp.port }, 'otlp receiver listening');

  pods.start();
  pricer.start();
  await pods.whenSynced();
  // Metering never waits on pricing: without CostPolicies (or their CRD) usage is still written,
  // unpriced, and /readyz says why.
  const pricingSynced = await Promise.race([
    pricer.whenSynced().then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), 2_000).unref()),
  ]);
  if (!pricingSynced)
    log.warn('cost policies not synced yet; pods are metered unpriced until they are');
  log.info({ node: config.nodeName, pods: pods.list().length }, 'pod watch synced');

  const heapCap = new HeapCap({
    capBytes: config.heapCapBytes,
    gc: globalThis.gc,
    heapUsed: () => getHeapStatistics().used_heap_size,
  });
  log.info({ capBytes: config.heapCapBytes, ...heapCap.state }, 'heap cap');
  const afterTick = (): void => {
    // After the callbacks the tick held back (scrapes, spans), so none waits for the collection.
    setImmediate(() => {
      if (heapCap.check()) metrics.heapCapCollected();
    });
  };

  let timer: NodeJS.Timeout | undefined;
  let stopping = false;
  const schedule = (): void => {
    // Aligned to wall-clock multiples of the tick so nodes' entries line up in reports.
    const delay = config.tickMs - (Date.now() % config.tickMs);
    timer = setTimeout(() => {
      void sampler.tick('timer').then(() => {
        if (stopping) return;
        afterTick();
        schedule();
      });
    }, delay);
  };
  await sampler.tick('timer');
  schedule();

  await new Promise<void>((resolve) => {
    const shutdown = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'shutting down');
      clearTimeout(timer);
      const deadline = setTimeout(() => {
        log.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out');
        process.exit(1);
      }, config.shutdownTimeoutMs);
      deadline.unref();
      void (async () => {
        await otlp.close().catch((err: unknown) => log.warn({ err }, 'otlp close failed'));
        await sampler.tick('shutdown');
        await sampler.flush();
        await server.close().catch((err: unknown) => log.warn({ err }, 'server close failed'));
        await gpu?.stop();
        sampler.close();
        await Promise.all([pods.stop(), pricer.stop()]);
        await ledger.close();
        log.info({ ticks: sampler.ticks.toString() }, 'stopped');
        resolve();
      })();
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}${configUsage()}\n`);
    return;
  }
  let config: AgentConfig;
  try {
    config = parseConfig(argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`agentmeter node-agent: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger({ level: config.logLevel, component: 'node-agent' });
  try {
    await run(config, log);
  } catch (err) {
    log.fatal({ err }, 'node agent failed');
    process.exit(1);
  }
}

await main();
