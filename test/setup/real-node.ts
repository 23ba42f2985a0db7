// Vitest global setup for the cluster project: one real node per run (hack/real-node.ts) with the
// chart installed from charts/agentmeter. A failure to build, start or install fails the run with
// the reason; it never skips suites. The last suite (test/cluster/teardown.test.ts) stops the
// node and checks the host; if it did not run, the node is stopped and checked here.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { startRealNodeWhenFree, type RealNode } from '../../hack/real-node.ts';
import { runChecked } from '../../hack/lib/processes.ts';
import { CHART_IMAGES, installChart } from '../../hack/real-node/chart.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
let node: RealNode | undefined;

export async function setup(project: TestProject): Promise<void> {
  node = await startRealNodeWhenFree(
    { images: ['busybox', 'agent-app', ...CHART_IMAGES] },
    Number(process.env.AGENTMETER_NODE_LOCK_WAIT_MS ?? 600_000),
  );
  const { stop, ...info } = node;
  try {
    const helm = (await runChecked('bash', [join(repoRoot, 'hack', 'ensure-helm.sh')])).trim();
    const chart = await installChart(info, helm, repoRoot);
    project.provide('realNode', info);
    project.provide('chart', chart);
  } catch (err) {
    await node.stop();
    node = undefined;
    throw err;
  }
}

export async function teardown(): Promise<void> {
  const diff = await node?.stop();
  if (diff?.length) {
    throw new Error(`the host differs from before the real node:\n${diff.join('\n')}`);
  }
}
