// The whole node loses power and comes back on the same state directory
// (hack/real-node/restart.ts): every daemon and every pod process is SIGKILLed, the daemons start
// again, the kubelet starts the pods again in their cgroups. The burner's CPU in the agent's
// ledger (which resumes from its last checkpoint) must equal its cgroup's counter to the
// nanosecond, with nothing counted twice. Runs just before the teardown suite
// (test/setup/sequencer.ts): every other suite has the node as it first started.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restartRecordedNode } from '../../hack/real-node/restart.ts';
import { waitFor } from '../support/wait.ts';
import { chartRelease, kubectlJson, realNode } from './support/cluster.ts';
import { ledgerSettledPast, settleAndCompare, startBurner, thaw } from './support/faults.ts';
import {
  createNamespace,
  deleteNamespace,
  getPod,
  waitForRollout,
  type PodStatus,
} from './support/pods.ts';

interface Node {
  status: { conditions: { type: string; status: string }[] };
}

describe('the whole node restarted on its state directory', () => {
  let namespace = '';
  let burner: PodStatus | undefined;

  beforeAll(async () => {
    namespace = await createNamespace('restart');
  });

  afterAll(async () => {
    if (burner) await thaw(burner);
    if (namespace) await deleteNamespace(namespace);
  });

  it('counts every nanosecond of a pod across the power cut', async () => {
    burner = await startBurner(namespace, 'burn-restart');
    await ledgerSettledPast(0n, burner.metadata.uid);
    const restartsBefore = burner.status.containerStatuses?.[0]?.restartCount ?? 0;
    const lines: string[] = [];
    await restartRecordedNode({ downMs: 5_000, log: (l) => lines.push(l) });
    process.stdout.write(`node restart:\n  ${lines.join('\n  ')}\n`);

    await waitFor(
      'the node Ready again',
      async () => {
        const node = await kubectlJson<Node>(['get', 'node', realNode().nodeName]).catch(
          () => undefined,
        );
        return node?.status.conditions.find((c) => c.type === 'Ready')?.status === 'True';
      },
      180_000,
    );
    const { namespace: system, release } = chartRelease();
    await waitForRollout(system, `daemonset/${release}-agent`);
    // The kubelet ran the burner again in its pod (the power cut killed it).
    await waitFor(
      'the burner running again',
      async () => {
        const pod = await getPod(namespace, 'burn-restart');
        const status = pod.status.containerStatuses?.[0];
        return (status?.restartCount ?? 0) > restartsBefore && status?.ready === true;
      },
      180_000,
    );
    const figures = await settleAndCompare('whole node restarted', burner);
    expect(figures.problems).toEqual([]);
    expect(figures.measuredNs).toBe(figures.expectedNs);
  });
});
