// GPU metering, when the node has (or is told it has) nvidia-smi: once started, the collector
// runs nvidia-smi on its own schedule, and the sampler asks it for each tick's attribution.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Registry } from 'prom-client';
import type { AgentConfig } from '../config.ts';
import type { GpuTickResult } from '../gpu/index.ts';
import type { AgentMetrics } from '../metrics/agent-metrics.ts';
import type { Logger } from '../log.ts';
import type { PodWatch } from '../pods/pod-watch.ts';

export interface GpuSource {
  start(): void;
  collect(nowNs: bigint): Promise<{ result: GpuTickResult | null }>;
  stop(): Promise<void>;
}

function findExecutable(name: string): string | undefined {
  const candidates = name.includes('/')
    ? [name]
    : (process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, name));
  return candidates.find((path) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export async function buildGpu(
  config: AgentConfig,
  pods: PodWatch,
  metrics: AgentMetrics,
  log: Logger,
): Promise<GpuSource | null> {
  if (config.gpu === 'off') return null;
  const binary = findExecutable(config.nvidiaSmi);
  if (binary === undefined && config.gpu === 'auto') {
    log.info({ nvidiaSmi: config.nvidiaSmi }, 'no nvidia-smi found; GPU metering is off');
    return null;
  }
  // Loaded only on GPU nodes: gRPC and the XML parser cost ~25 MiB of RSS the others never need.
  const { GpuCollector, GpuMetrics } = await import('../gpu/index.ts');
  const gpuMetrics = new GpuMetrics();
  metrics.extend((registry) => gpuMetrics.register(registry as Registry));
  const collector = new GpuCollector({
    nvidiaSmi: { binary: binary ?? config.nvidiaSmi },
    sampleIntervalMs: Math.max(config.tickMs, 1000),
    podResources: { socketPath: config.podResourcesSocket },
    procRoot: config.procRoot,
    ...(config.dcgmUrl === undefined ? {} : { dcgm: { url: config.dcgmUrl } }),
    lookupPod: (namespace, name) => {
      const meta = pods.list().find((p) => p.namespace === namespace && p.name === name);
      return meta === undefined ? undefined : { uid: meta.uid, phase: meta.phase };
    },
    onError: (error) => gpuMetrics.error(error),
    log: (line) => log.warn(line, line.msg),
  });
  return {
    start: () => {
      collector.start();
      log.info({ nvidiaSmi: binary ?? config.nvidiaSmi }, 'GPU metering on');
    },
    collect: async (nowNs) => {
      const { result } = await collector.collect(nowNs);
      if (result !== null) {
        gpuMetrics.addTick(result, (uid) => {
          const meta = pods.byUid(uid);
          return meta === undefined ? undefined : { namespace: meta.namespace, pod: meta.name };
        });
      }
      return { result };
    },
    stop: () => collector.stop(),
  };
}
