// The agent's composition root: reads what the parts need from the host (cgroup layout, boot
// id, host network namespace, Kubernetes credentials), opens the ledger, and builds every part
// in data-flow order: cgroups and GPUs → sampler → sessions → tick batcher (split, price) →
// ledger → metrics and APIs. Nothing runs until start(); see agent.ts for the start and stop
// order.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { RestClient, loadRestConfig } from '@agentmeter/kube-client';
import { TickBatcher } from '../batches/tick-batcher.ts';
import { rebuildDedupe } from '../calls/index.ts';
import { detectLayout, readHostNetNs, type CgroupLayout } from '../cgroup/index.ts';
import type { AgentConfig } from '../config.ts';
import { createAckRouter } from '../http/ack.ts';
import { operatorAccess } from '../http/auth.ts';
import { createApp, createMetricsApp, listen } from '../http/server.ts';
import { sessionReaderAccess } from '../http/session-access.ts';
import { TokenReviewer } from '@agentmeter/kube-client/access';
import { SessionBook } from '../http/session-book.ts';
import { sessionsRouter } from '../http/sessions-api.ts';
import { createSessionsBudgetRouter, OverBudgetSessions } from '../http/sessions-budget.ts';
import { readSeqs } from '../ledger/read-seqs.ts';
import { LedgerStore } from '../ledger/segment-store.ts';
import { componentLogger, type Logger } from '../log.ts';
import { AgentMetrics } from '../metrics/agent-metrics.ts';
import { AttributionMetrics } from '../metrics/attribution-metrics.ts';
import { RefusalMetrics } from '../metrics/refusal-metrics.ts';
import { PodWatch } from '../pods/pod-watch.ts';
import { PolicyPricer } from '../pricing/policy-pricer.ts';
import { listenHealth } from '../runtime/health-server.ts';
import { HeapCap } from '../runtime/heap-cap.ts';
import { Sampler } from '../sampler/sampler.ts';
import { Agent } from './agent.ts';
import { buildGpu } from './gpu-wiring.ts';
import { readinessChecks, tickStaleNs } from './readiness.ts';
import { wireSessions } from './session-wiring.ts';
import { TickLoop } from './tick-loop.ts';

/** How long the first tick waits for CostPolicies before it meters unpriced. */
const POLICY_SYNC_WAIT_MS = 2_000;
/** Sessions seen in this window count as active in the metrics. */
const ACTIVE_SESSION_WINDOW_NS = 300_000_000_000n;

const wallNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

async function bootId(procRoot: string): Promise<string | undefined> {
  try {
    return (await readFile(join(procRoot, 'sys/kernel/random/boot_id'), 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/** Host network namespace, so host-network pods are not charged the node's NIC traffic. */
async function hostNetNs(procRoot: string, log: Logger): Promise<string | null> {
  const host = await readHostNetNs(procRoot);
  if (host === null) {
    log.warn(
      { procRoot },
      'cannot read the host network namespace; host-network pods may be charged node traffic',
    );
    return null;
  }
  log.info({ netNs: host.netNs, from: host.from }, 'host network namespace');
  return host.netNs;
}

export async function buildAgent(config: AgentConfig, log: Logger): Promise<Agent> {
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
  const kube = new RestClient(
    await loadRestConfig(config.kubeconfig === undefined ? {} : { kubeconfig: config.kubeconfig }),
    { userAgent: 'agentmeter-node-agent' },
  );
  const netNs = await hostNetNs(config.procRoot, log);
  const boot = await bootId(config.procRoot);

  // Opened last of the start-up I/O: what follows only builds objects, or closes it on failure.
  const ledger = await LedgerStore.open({
    dir: config.stateDir,
    identity: {
      node: config.nodeName,
      agentId: randomUUID(),
      ...(boot === undefined ? {} : { bootId: boot }),
    },
    segmentBytes: config.ledgerSegmentBytes,
    retention: { maxAgeNs: BigInt(config.ledgerRetentionMs) * 1_000_000n },
  });
  log.info({ seq: ledger.head().seq.toString(), hash: ledger.head().hash }, 'ledger open');
  try {
    return await compose(config, log, { layout, kube, netNs, ledger });
  } catch (err) {
    await ledger.close();
    throw err;
  }
}

async function compose(
  config: AgentConfig,
  log: Logger,
  host: {
    layout: CgroupLayout;
    kube: RestClient;
    netNs: string | null;
    ledger: LedgerStore;
  },
): Promise<Agent> {
  const { layout, kube, netNs, ledger } = host;
  const metrics = new AgentMetrics();
  const pods = new PodWatch({
    client: kube,
    nodeName: config.nodeName,
    logger: componentLogger(log, 'pods'),
  });
  pods.on('restart', (reason) => metrics.podWatchRestart(reason));
  pods.on('synced', () => metrics.setPodWatchSynced(true));
  const pricer = new PolicyPricer({ client: kube, log: componentLogger(log, 'pricing') });

  const refusals = new RefusalMetrics();
  metrics.extend((registry) => refusals.register(registry));
  const heapCap = new HeapCap({
    capBytes: config.heapCapBytes,
    gc: globalThis.gc,
    heapUsed: () => getHeapStatistics().used_heap_size,
  });
  log.info({ capBytes: config.heapCapBytes, ...heapCap.state }, 'heap cap');
  // Between ticks and between OTLP requests: a request of a few hundred spans allocates more
  // than a tick at 250 pods (PERFORMANCE.md, "the heap cap after OTLP requests").
  const capHeap = (): void => {
    setImmediate(() => {
      if (heapCap.check()) metrics.heapCapCollected();
    });
  };
  const sessions = wireSessions({
    config,
    pods,
    clock: wallNs,
    log: componentLogger(log, 'otlp'),
    refusals,
    apiHostFor: (meta, host) => pricer.apiHostFor(meta, host),
    spanTagsFor: (meta) => pricer.spanTagsFor(meta),
    afterRequest: capHeap,
  });
  // Before any span is received: a retry of a call written before a restart stays a duplicate.
  const rebuilt = await rebuildDedupe(ledger, sessions.dedupe, wallNs());
  log.info(
    { calls: rebuilt, windowNs: sessions.dedupe.windowNs.toString(), bytes: sessions.dedupe.bytes },
    'call dedupe set rebuilt from the ledger',
  );
  const book = new SessionBook();
  const attribution = new AttributionMetrics({
    ingest: () => sessions.ingest.counters,
    lateSpans: () => sessions.settlement.lateSpans,
    activeSessions: () => book.activeByNamespace(wallNs() - ACTIVE_SESSION_WINDOW_NS),
    pricedModels: () => pricer.pricedModels(),
    dedupe: () => ({ keys: sessions.dedupe.keys, bytes: sessions.dedupe.bytes }),
  });
  metrics.extend((registry) => attribution.register(registry));

  const batcher = new TickBatcher({
    settlement: sessions.settlement,
    calls: sessions.calls,
    pricer,
    // A pod deleted since its spans arrived still names its policy (tombstones).
    podByUid: (uid) => pods.byUid(uid) ?? pods.byCgroupUid(uid),
    watermarkTicks: config.sessionWatermarkTicks,
    // At short ticks several settled ticks make one batch, so ledger volume and sealing cost
    // follow the ledger interval rather than the tick.
    ticksPerBatch: Math.max(1, Math.round(config.ledgerIntervalMs / config.tickMs)),
    releaseSpans: (all) => sessions.ingest.flush(all),
  });
  const gpu = await buildGpu(config, pods, metrics, componentLogger(log, 'gpu'));
  const sampler = new Sampler({
    layout,
    pods,
    ledger,
    metrics,
    log: componentLogger(log, 'sampler'),
    procRoot: config.procRoot,
    sysRoot: config.sysRoot,
    hostNetNs: netNs,
    batcher,
    pricer,
    ...(gpu === null ? {} : { gpu }),
    onBatch: (batch, lastSeq) => {
      book.apply(batch, wallNs(), lastSeq);
      attribution.addBatch(batch);
    },
  });

  const ticks = new TickLoop({
    target: sampler,
    tickMs: config.tickMs,
    // After the callbacks the tick held back (scrapes, spans), so none waits for the collection.
    afterTick: capHeap,
  });
  // A pod that goes away gets a final sample now, before the kubelet removes its cgroup.
  pods.onPodGone((_uid, meta) => {
    void ticks.tickNow('pod-gone').then((ran) => {
      if (ran) metrics.podGone(meta.namespace, meta.name);
    });
  });

  // Caller checks ask the apiserver (TokenReview, SubjectAccessReview), bounded per source and
  // overall. The operator's API (ledger pull, acknowledgements, budget marks) is for its
  // ServiceAccount only; a session is for its own namespace (http/session-access.ts).
  const reviewer = new TokenReviewer({
    client: kube,
    audience: config.ledgerApiAudience,
    logger: componentLogger(log, 'auth'),
    onReview: (kind, outcome) => refusals.review(kind, outcome),
  });
  const authorize = operatorAccess(reviewer);
  const readSession = sessionReaderAccess({ pods: sessions.directory, reviewer });
  const overBudget = new OverBudgetSessions();
  const sessionReads = sessionsRouter({
    book,
    node: config.nodeName,
    isOverBudget: (namespace, id) => overBudget.has(namespace, id),
    readSession,
    readEntries: (seqs) => readSeqs(ledger, seqs),
  });
  // Pods read their sessions on the port they send spans to; NetworkPolicy keeps the API port
  // for the operator.
  sessions.otlpApp.use(sessionReads);
  const httpLogger = componentLogger(log, 'http');
  const checks = readinessChecks({
    podWatchSynced: () => pods.synced,
    ledgerWritable: () => ledger.writable,
    lastTickEndNs: () => sampler.lastTickEndNs,
    nowNs: wallNs,
    tickStaleNs: tickStaleNs(config.tickMs),
  });
  const apiApp = createApp({
    ledger,
    authorize,
    logger: httpLogger,
    countResponses: refusals.countResponses('api'),
    routers: [
      createAckRouter({ store: ledger, authorize }),
      createSessionsBudgetRouter({ sessions: overBudget, authorize, readSession }),
      sessionReads,
    ],
  });
  const metricsApp = createMetricsApp({
    metrics,
    countResponses: refusals.countResponses('metrics'),
    logger: httpLogger,
  });

  return new Agent({
    log,
    ledger: {
      markStart: async () => {
        const now = wallNs().toString();
        await ledger.append([
          {
            kind: 'marker',
            event: 'agent-start',
            time: { start: now, end: now },
            detail: { pid: String(process.pid), tick: `${config.tickMs}ms` },
          },
        ]);
      },
      close: () => ledger.close(),
    },
    sampler,
    api: { listen: () => listen(apiApp, config.listen.host, config.listen.port) },
    health: {
      listen: () =>
        listenHealth({ host: config.healthListen.host, port: config.healthListen.port, checks }),
    },
    metricsServer: {
      listen: () => listen(metricsApp, config.metricsListen.host, config.metricsListen.port),
    },
    otlp: {
      listen: () => listen(sessions.otlpApp, config.otlpListen.host, config.otlpListen.port),
    },
    pods,
    policies: pricer,
    gpu,
    ticks,
    policySyncWaitMs: POLICY_SYNC_WAIT_MS,
  });
}
