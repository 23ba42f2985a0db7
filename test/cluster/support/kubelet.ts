// The real kubelet's own view of usage, read through the apiserver's node proxy as a user would:
// the peer the metering suites compare the agent's figures with.
import { kubectlOk, realNode } from './cluster.ts';

export interface StatsSummary {
  node: { nodeName: string; cpu?: { usageCoreNanoSeconds?: number } };
  pods: {
    podRef: { name: string; namespace: string; uid: string };
    cpu?: { usageCoreNanoSeconds?: number; time?: string };
    memory?: { workingSetBytes?: number; time?: string };
    network?: { rxBytes?: number; txBytes?: number };
  }[];
}

/** GET /stats/summary of the node's kubelet (JSON numbers: exact below 2^53 ns, ~104 days). */
export async function statsSummary(): Promise<StatsSummary> {
  const path = `/api/v1/nodes/${realNode().nodeName}/proxy/stats/summary`;
  return JSON.parse(await kubectlOk(['get', '--raw', path])) as StatsSummary;
}

/** GET /metrics/cadvisor of the node's kubelet, as Prometheus text. */
export async function cadvisorMetrics(): Promise<string> {
  return kubectlOk(['get', '--raw', `/api/v1/nodes/${realNode().nodeName}/proxy/metrics/cadvisor`]);
}
