// Installs charts/agentmeter on the real node as a user would: `helm install`, unchanged but for
// the locally built images (pull policy Never) and the store's volume, then waits for the agent DaemonSet and the
// operator Deployment to be ready.
import { join } from 'node:path';
import type { RealNodeInfo } from '../../../hack/real-node.ts';
import { runChecked } from '../../../hack/lib/processes.ts';
import type { ChartRelease } from './cluster.ts';

/** The images the chart runs; hack/build-images.sh builds them under these names. */
export const CHART_IMAGES = ['node-agent', 'operator'] as const;

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
  await runChecked(
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
  return { release, namespace, helm: helmBinary };
}
