// The operator process: flags → kube clients → Lease leader election → (leader only) the
// collection/reconcile/enforce loop, plus /metrics, /healthz and /readyz for every replica.
// Losing the Lease (e.g. an apiserver outage longer than renewDeadline) ends the term and the
// replica campaigns again, so it recovers on its own without a restart. SIGTERM stops the loop
// after the current round and releases the Lease.
import { createServer } from 'node:http';
import {
  AppsV1Api,
  BatchV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  EventsV1Api,
} from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import express from 'express';
import { pino } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { COST_POLICY_GVK } from '@agentmeter/crds';
import { Informer, RestClient, loadRestConfig } from '@agentmeter/kube-client';
import { TokenReviewer } from '@agentmeter/kube-client/access';
import { loadKubeConfig } from '@agentmeter/kube-client/kubeconfig';
import { fileClock } from './clock-file.ts';
import { endpointSliceDiscovery, podDiscovery } from './collect/agents.ts';
import { httpAgentApi, tokenFromFile } from './collect/client.ts';
import { ConfigError, configUsage, parseConfig } from './config.ts';
import { CostPolicyController } from './controller/costpolicy.ts';
import { Enforcer } from './enforce/apply.ts';
import { OperatorMetrics } from './metrics.ts';
import { openStore } from './store/open.ts';
import { sessionTokenAccess, sessionsRouter } from './http/sessions-api.ts';
import {
  Controller,
  EventRecorder,
  LeaderElector,
  enqueueOnSpecChange,
  systemClock,
} from './runtime/index.ts';

const ROUND_KEY = 'collect';
const USAGE =
  'Usage: node operator/src/main.ts [--flag=value ...]\n\nSettings (flags win over env):';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n${configUsage()}\n`);
    return;
  }
  let config;
  try {
    config = parseConfig(argv, process.env);
  } catch (err) {
    if (
      err instanceof ConfigError ||
      (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      process.stderr.write(`${(err as Error).message}\n\nSettings:\n${configUsage()}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = pino({
    level: config.logLevel,
    base: { component: 'operator', identity: config.identity },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
  const clock = config.clockFile ? fileClock(config.clockFile) : systemClock;
  if (config.clockFile)
    logger.warn(
      { clockFile: config.clockFile },
      'TEST CLOCK SEAM ACTIVE: wall clock read from file',
    );
  const kc = loadKubeConfig({ kubeconfig: config.kubeconfig });
  // Informers stream through RestClient; the generated API clients use client-node.
  const rest = new RestClient(await loadRestConfig({ kubeconfig: config.kubeconfig }), {
    userAgent: 'agentmeter-operator',
  });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = new OperatorMetrics(registry);
  const events = new EventRecorder({
    api: kc.makeApiClient(EventsV1Api),
    reportingInstance: config.identity,
    logger,
    registry,
    clock,
  });
  const writes = (resource: string) => metrics.apiWrites.inc({ verb: 'patch', resource });
  const core = kc.makeApiClient(CoreV1Api);
  const discover = config.agentSelector
    ? podDiscovery(core, config.namespace, config.agentSelector, config.agentPort)
    : endpointSliceDiscovery(
        kc.makeApiClient(DiscoveryV1Api),
        config.namespace,
        config.agentService,
        config.agentPort,
      );
  // Both replicas open the store (a standby serves reads); only the leader's rounds write.
  const store = await openStore(config.store);
  logger.info(
    { store: config.store.engine, version: await store.engine.version() },
    'accounting store open',
  );
  const reconciler = new CostPolicyController({
    store,
    retention: config.retention,
    custom: kc.makeApiClient(CustomObjectsApi),
    agentApi: httpAgentApi({ token: tokenFromFile(config.ledgerTokenFile) }),
    discover,
    enforcer: new Enforcer(
      { apps: kc.makeApiClient(AppsV1Api), batch: kc.makeApiClient(BatchV1Api) },
      events,
      logger.child({ component: 'enforce' }),
      writes,
    ),
    events,
    metrics,
    logger: logger.child({ component: 'collect' }),
    clock,
  });
  // One term of leadership: a fresh controller and informer (a stopped work queue cannot be
  // reused). Status writes are guarded by resourceVersion, so a round still finishing after
  // the Lease is lost cannot count anything twice.
  const startTerm = (): Term => {
    const controller = new Controller({
      name: 'costpolicy',
      registry,
      logger,
      clock,
      reconcile: async () => {
        const summary = await reconciler.round();
        logger.info(
          { ...summary, unreachable: summary.unreachable.length, refused: summary.refused },
          'round done',
        );
        return { requeueAfter: config.intervalMs };
      },
      resync: { intervalMs: config.intervalMs * 6, keys: () => [ROUND_KEY] },
    });
    // A spec change (budget raised, removed) is acted on at once rather than at the next tick.
    const policies = new Informer<KubernetesObject>({
      client: rest,
      path: `/apis/${COST_POLICY_GVK.group}/${COST_POLICY_GVK.version}/${COST_POLICY_GVK.plural}`,
      logger,
    });
    enqueueOnSpecChange(policies, controller, ROUND_KEY);
    policies.start();
    const run = controller.start();
    controller.enqueue(ROUND_KEY);
    return { controller, policies, run };
  };
  let term: Term | undefined;
  const endTerm = async (): Promise<void> => {
    const t = term;
    term = undefined;
    if (t === undefined) return;
    await t.controller.stop();
    await t.run;
    await t.policies.stop();
  };

  let shuttingDown = false;
  let elector: LeaderElector | undefined;
  // Unknown until the first Lease request; the campaign makes one at once.
  let leaseApiAnswered: boolean | undefined;
  const campaign = async (): Promise<void> => {
    while (!shuttingDown) {
      elector = new LeaderElector({
        api: kc.makeApiClient(CoordinationV1Api),
        namespace: config.namespace,
        name: config.leaseName,
        identity: config.identity,
        logger,
        leaseDurationMs: config.leaseDurationMs,
        renewDeadlineMs: config.renewDeadlineMs,
        retryPeriodMs: config.retryPeriodMs,
        releaseOnCancel: true,
        registry,
        callbacks: {
          onStartedLeading: () => {
            term = startTerm();
          },
          onNewLeader: (id) => logger.info({ leader: id }, 'leader observed'),
          onLeaseApi: (answered) => {
            leaseApiAnswered = answered;
          },
        },
      });
      await elector.run();
      if (shuttingDown) return;
      logger.error('leadership lost; stopping this term and campaigning again');
      await endTerm();
    }
  };

  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
  // Every replica answers session reads from the store; callers are checked per namespace.
  const reviewer = new TokenReviewer({ client: rest, logger: logger.child({ component: 'auth' }) });
  app.use(sessionsRouter(store, sessionTokenAccess(reviewer)));
  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok\n');
  });
  app.get('/readyz', async (_req, res) => {
    // The gauge reports the leader's rounds; a standby runs none, and its unset gauge reads 0
    // (judging a standby by it kept the chart's second replica unready forever). A standby is
    // judged by its own Lease requests instead, so an outage makes every replica unready.
    const metric = await metrics.apiserverUp.get();
    const up = term === undefined ? leaseApiAnswered !== false : metric.values[0]?.value !== 0;
    const checks = [
      { name: 'apiserver', ok: up },
      { name: 'leader-or-standby', ok: true },
    ];
    const ok = checks.every((c) => c.ok);
    const lines = checks.map((c) => `[${c.ok ? '+' : '-'}]${c.name} ${c.ok ? 'ok' : 'failed'}`);
    lines.push(`leader: ${term !== undefined}`, ok ? 'readyz check passed' : 'readyz check failed');
    res
      .status(ok ? 200 : 503)
      .type('text/plain')
      .send(`${lines.join('\n')}\n`);
  });
  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.port, config.listen.host, () => resolve());
  });
  logger.info({ listen: config.listen, leaderElection: config.leaderElection }, 'operator started');

  const shutdown = async (signal: string): Promise<void> => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error('shutdown timed out');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    timer.unref();
    await endTerm();
    await elector?.stop();
    server.closeIdleConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await store.close();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  if (config.leaderElection)
    campaign().catch((err: unknown) => {
      logger.fatal({ err: (err as Error).message }, 'leader election failed');
      process.exit(1);
    });
  else term = startTerm();
}

interface Term {
  readonly controller: Controller;
  readonly policies: Informer<KubernetesObject>;
  readonly run: Promise<void>;
}

main().catch((err: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ level: 'fatal', component: 'operator', msg: 'start-up failed', err: err instanceof Error ? err.message : String(err) })}\n`,
  );
  process.exit(1);
});
