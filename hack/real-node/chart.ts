// Installs charts/agentmeter on the real node as a user would: `helm install`, unchanged but for
// the locally built images (pull policy Never) and the store's volume, then waits for the agent
// DaemonSet and the operator Deployment to be ready. The cluster suites' global setup and the demo
// both use it.
import { join } from 'node:path';
import type { RealNodeInfo } from '../real-node.ts';
import { run } from '../lib/processes.ts';

/** A release of the chart on the node, and the helm binary that manages it. */
export interface ChartRelease {
  readonly release: string;
  readonly namespace: string;
  readonly helm: string;
}

/** The images the chart runs; hack/build-images.sh builds them under these names. */
export const CHART_IMAGES = ['node-agent', 'operator'] as const;

/**
 * The agent's tick in the test install (`agent.tick`): short, so that the suites that wait for
 * the agent to settle (the fault suites above all) wait seconds, not tens of seconds.
 */
export const TEST_TICK_MS = 2_000;

/** The `--set` values that point the chart at the imported local images. */
export function localImageValues(): string[] {
  const values: string[] = [];
  for (const [key, repository] of [
    ['agent', 'agentmeter.local/node-agent'],
    ['operator', 'agentmeter.local/operator'],
  ] as const) {
    values.push(
      `${key}.image.repository=${repository}`,
      `${key}.image.tag=dev`,
      `${key}.image.pullPolicy=Never`,
    );
  }
  return values.flatMap((v) => ['--set', v]);
}

export async function installChart(
  node: RealNodeInfo,
  helmBinary: string,
  repoRoot: string,
  options: { release?: string; namespace?: string; extraArgs?: readonly string[] } = {},
): Promise<ChartRelease> {
  const release = options.release ?? 'agentmeter';
  const namespace = options.namespace ?? 'agentmeter-system';
  const res = await run(
    helmBinary,
    [
      '--kubeconfig',
      node.kubeconfig,
      'install',
      release,
      join(repoRoot, 'charts', 'agentmeter'),
      '--namespace',
      namespace,
      '--create-namespace',
      ...localImageValues(),
      '--set',
      `agent.tick=${TEST_TICK_MS / 1000}s`,
      // The real node has no volume provisioner: the embedded store lives in an emptyDir.
      '--set',
      'store.embedded.persistence.enabled=false',
      ...(options.extraArgs ?? []),
      '--wait',
      '--timeout',
      '5m',
    ],
    { timeoutMs: 330_000 },
  );
  if (res.code !== 0) {
    throw new Error(
      `helm install of charts/agentmeter failed (exit ${res.code}): ${res.stderr.trim()}\n${await clusterState(node)}`,
    );
  }
  return { release, namespace, helm: helmBinary };
}

/** What the cluster shows about a failed install: every pod, and every event. */
async function clusterState(node: RealNodeInfo): Promise<string> {
  const get = (args: string[]): Promise<string> =>
    run(node.binaries.kubectl, ['--kubeconfig', node.kubeconfig, ...args]).then(
      (r) => r.stdout + r.stderr,
    );
  return [
    await get(['get', 'pods', '-A', '-o', 'wide']),
    await get(['get', 'events', '-A', '--sort-by=.lastTimestamp']),
  ].join('\n');
}
