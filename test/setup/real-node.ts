// Vitest global setup for the cluster project: one real node per run (hack/real-node.ts) with the
// chart installed from charts/agentmeter. A failure to build, start or install fails the run with
// the reason; it never skips suites. The last suite (test/cluster/teardown.test.ts) stops the
// node and checks the host; if it did not run, the node is stopped and checked here.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { RealNodeError, startRealNode, type RealNode } from '../../hack/real-node.ts';
import { run, runChecked } from '../../hack/lib/processes.ts';
import { CHART_IMAGES, installChart } from '../cluster/support/chart.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
let node: RealNode | undefined;

/** What the cluster shows about a failed install: every pod, and the events of its namespace. */
async function describeFailure(kubectl: string, kubeconfig: string): Promise<string> {
  const get = (args: string[]): Promise<string> =>
    run(kubectl, ['--kubeconfig', kubeconfig, ...args]).then((r) => r.stdout + r.stderr);
  return [
    await get(['get', 'pods', '-A', '-o', 'wide']),
    await get(['get', 'events', '-A', '--sort-by=.lastTimestamp']),
  ].join('\n');
}

/** How long to wait for another run's node (one per machine) before failing; default 10 min. */
const LOCK_WAIT_MS = Number(process.env.AGENTMETER_NODE_LOCK_WAIT_MS ?? 600_000);
const LOCK_RETRY_MS = 15_000;

/**
 * Starts the node, waiting (bounded) while another run holds the machine's node lock: on a
 * shared machine that is a queue, not a failure. Its holder is named while waiting and when
 * giving up; it is never stopped from here.
 */
async function startWhenFree(): Promise<RealNode> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  let said = '';
  for (;;) {
    try {
      return await startRealNode({ images: ['busybox', 'agent-app', ...CHART_IMAGES] });
    } catch (err) {
      const busy = err instanceof RealNodeError && err.message.startsWith('another real node');
      if (!busy) throw err;
      if (Date.now() + LOCK_RETRY_MS > deadline) {
        throw new RealNodeError(`gave up after waiting ${LOCK_WAIT_MS} ms: ${err.message}`);
      }
      if (err.message !== said) {
        process.stderr.write(`[real-node] waiting for the node lock: ${err.message}\n`);
        said = err.message;
      }
      await new Promise((r) => setTimeout(r, LOCK_RETRY_MS));
    }
  }
}

export async function setup(project: TestProject): Promise<void> {
  node = await startWhenFree();
  const { stop, ...info } = node;
  try {
    const helm = (await runChecked('bash', [join(repoRoot, 'hack', 'ensure-helm.sh')])).trim();
    const chart = await installChart(info, helm, repoRoot).catch(async (err: unknown) => {
      const state = await describeFailure(info.binaries.kubectl, info.kubeconfig);
      throw new Error(`helm install of charts/agentmeter failed: ${String(err)}\n${state}`);
    });
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
