// The node agent process: configuration → cgroup layout → ledger (recovering its baseline) → pod
// watch → sampler on a timer → HTTP. SIGTERM drains: a final tick, the ledger closed (every
// append is already fsynced), the watch stopped, the server closed.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { loadKubeConfig } from '@agentmeter/crds';
import { detectLayout } from './cgroup/index.ts';
import { ConfigError, configUsage, parseConfig, type AgentConfig } from './config.ts';
import { AgentMetrics } from './http/metrics.ts';
import { createApp, listen, type Listening } from './http/server.ts';
import { LedgerStore } from './ledger/segment-store.ts';
import { createLogger, componentLogger, type Logger } from './log.ts';
import { PodMetadata } from './pods/pod-metadata.ts';
import { readNetNs } from './cgroup/index.ts';
import { Sampler } from './sampler/sampler.ts';

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
  log.warn({ procRoot }, 'cannot read the host network namespace; host-network pods may be charged node traffic');
  return null;
}

async function run(config: AgentConfig, log: Logger): Promise<void> {
  const hostRoot = config.cgroupRoot.endsWith('/sys/fs/cgroup')
    ? config.cgroupRoot.slice(0, -'/sys/fs/cgroup'.length)
    : '';
  const mountinfoPath = join(config.procRoot, config.procRoot === '/proc' ? 'self' : '1', 'mountinfo');
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
  const kubeConfig = loadKubeConfig(
    config.kubeconfig === undefined ? {} : { kubeconfig: config.kubeconfig },
  );
  const pods = new PodMetadata({
    kubeConfig,
    nodeName: config.nodeName,
    logger: componentLogger(log, 'pods'),
  });
  pods.on('restart', (reason) => metrics.podWatchRestart(reason));
  pods.on('synced', () => metrics.setPodWatchSynced(true));

  const sampler = new Sampler({
    layout,
    pods,
    ledger,
    metrics,
    log: componentLogger(log, 'sampler'),
    procRoot: config.procRoot,
    sysRoot: config.sysRoot,
    hostNetNs: await hostNetNs(config.procRoot, log),
  });
  await sampler.recover();

  // A pod that goes away gets a final sample now, before the kubelet removes its cgroup.
  pods.onPodGone((_uid, meta) => {
    void sampler.tick('pod-gone').then(() => metrics.podGone(meta.namespace, meta.name));
  });

  const app = createApp({
    metrics,
    ledger,
    readiness: { 'pod-watch-synced': () => pods.synced, 'ledger-open': () => true },
    logger: componentLogger(log, 'http'),
  });
  const server: Listening = await listen(app, config.listen.host, config.listen.port);
  log.info({ host: server.host, port: server.port }, 'http listening');

  pods.start();
  await pods.whenSynced();
  log.info({ node: config.nodeName, pods: pods.list().length }, 'pod watch synced');

  let timer: NodeJS.Timeout | undefined;
  let stopping = false;
  const schedule = (): void => {
    // Aligned to wall-clock multiples of the tick so nodes' entries line up in reports.
    const delay = config.tickMs - (Date.now() % config.tickMs);
    timer = setTimeout(() => {
      void sampler.tick('timer').then(() => {
        if (!stopping) schedule();
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
        await server.close().catch((err: unknown) => log.warn({ err }, 'server close failed'));
        await sampler.tick('shutdown');
        await pods.stop();
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
