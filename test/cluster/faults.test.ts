// Faults on the real node, one CPU burner pod per fault: the agent's container killed with
// SIGKILL twenty times, the kubelet restarted, containerd restarted under running pods, the
// apiserver stopped for 60 s, and a Job whose cgroup vanishes between two ticks. After each, the
// burner is frozen and the agent's ledger total for it must equal its cgroup's CPU counter to the
// nanosecond, with no entry repeated or overlapping another.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecked, sleep } from '../../hack/lib/processes.ts';
import { isAlive, processStartTime, type NodeProcess } from '../../hack/real-node/lock.ts';
import { startComponent, stopComponent } from '../../hack/real-node/restart.ts';
import { waitFor } from '../support/wait.ts';
import { apply, chartRelease, kubectl, kubectlJson, realNode } from './support/cluster.ts';
import {
  agentPod,
  cpuNs,
  doubleCounting,
  ledgerSettledPast,
  podEntries,
  reportFigures,
  settleAndCompare,
  startBurner,
  TEST_TICK_MS,
  thaw,
} from './support/faults.ts';
import {
  busyboxContainer,
  createNamespace,
  deleteNamespace,
  listPods,
  podCgroupDir,
  waitForPodPhase,
  type PodStatus,
} from './support/pods.ts';

const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

function crictl(args: readonly string[]): Promise<string> {
  const node = realNode();
  return runChecked(node.binaries.crictl, [
    '--runtime-endpoint',
    `unix://${node.containerdSocket}`,
    ...args,
  ]);
}

/** The host pid of a running container's init, through the CRI as the kubelet sees it. */
async function containerPid(namespace: string, pod: string, container: string): Promise<number> {
  const ids = await crictl([
    'ps',
    '--label',
    `io.kubernetes.pod.namespace=${namespace}`,
    '--label',
    `io.kubernetes.pod.name=${pod}`,
    '--name',
    `^${container}$`,
    '--state',
    'Running',
    '-q',
  ]);
  const id = ids.trim().split('\n')[0];
  if (!id) throw new Error(`no running container ${container} in ${namespace}/${pod}`);
  const { info } = JSON.parse(await crictl(['inspect', id])) as { info: { pid: number } };
  return info.pid;
}

async function agentRestarts(namespace: string): Promise<{ restarts: number; running: boolean }> {
  const pod = (await agentPod(namespace)) as PodStatus & {
    status: { containerStatuses?: { state?: { running?: object } }[] };
  };
  const status = pod.status.containerStatuses?.[0];
  return { restarts: status?.restartCount ?? 0, running: status?.state?.running !== undefined };
}

async function nodeReady(): Promise<boolean> {
  const node = await kubectlJson<{ status: { conditions: { type: string; status: string }[] } }>([
    'get',
    'node',
    realNode().nodeName,
  ]).catch(() => undefined);
  return node?.status.conditions.find((c) => c.type === 'Ready')?.status === 'True';
}

describe('faults on the real node', () => {
  let namespace = '';
  const burners: PodStatus[] = [];

  beforeAll(async () => {
    namespace = await createNamespace('faults');
  });

  afterAll(async () => {
    for (const pod of burners) await thaw(pod);
    if (namespace) await deleteNamespace(namespace);
  });

  async function burner(name: string): Promise<PodStatus> {
    const pod = await startBurner(namespace, name);
    burners.push(pod);
    // The agent has the pod before the fault: its first ticks are behind it.
    await ledgerSettledPast(0n, pod.metadata.uid);
    return pod;
  }

  it('counts every nanosecond through 20 SIGKILLs of the agent at random points of its tick', async () => {
    const pod = await burner('burn-agent-kill');
    const { namespace: system } = chartRelease();
    const offsets: number[] = [];
    // Only kills that hit a live agent count: the kubelet's liveness probe may restart it too
    // (it fails while the agent starts up), and such a restart can come first.
    while (offsets.length < 20) {
      const before = await agentRestarts(system);
      let agent: NodeProcess | undefined;
      await waitFor('the agent container running', async () => {
        const name = (await agentPod(system)).metadata.name;
        const pid = await containerPid(system, name, 'agent').catch(() => undefined);
        const startTime = pid === undefined ? undefined : await processStartTime(pid);
        agent = pid && startTime ? { name: 'agent', pid, startTime } : undefined;
        return agent !== undefined;
      });
      // The kubelet restarts it after a back-off of 1 s (hack/real-node/config.ts); the kill
      // lands anywhere from its start-up and ledger recovery to the middle of its second tick.
      const offset = Math.floor(Math.random() * 2 * TEST_TICK_MS);
      await sleep(offset);
      if (!agent || !(await isAlive(agent))) continue;
      process.kill(agent.pid, 'SIGKILL');
      offsets.push(offset);
      await waitFor(
        `the agent's restart after kill ${offsets.length}`,
        async () => {
          const now = await agentRestarts(system).catch(() => before);
          return now.restarts > before.restarts && now.running;
        },
        60_000,
      );
    }
    const figures = await settleAndCompare('agent SIGKILL x20', pod);
    process.stdout.write(
      `agent kill offsets (ms after it was found running): ${offsets.join(' ')}\n`,
    );
    expect((await agentRestarts(system)).restarts).toBeGreaterThanOrEqual(20);
    expect(figures.problems).toEqual([]);
    expect(figures.measuredNs).toBe(figures.expectedNs);
  });

  it('counts every nanosecond across a kubelet restart', async () => {
    const pod = await burner('burn-kubelet');
    const relaunch = await stopComponent('kubelet');
    await sleep(2 * TEST_TICK_MS);
    await startComponent(relaunch);
    await waitFor('the node Ready again', nodeReady, 120_000);
    const figures = await settleAndCompare('kubelet restart', pod);
    expect(figures.problems).toEqual([]);
    expect(figures.measuredNs).toBe(figures.expectedNs);
  });

  it('counts every nanosecond across a containerd restart, the pods running on', async () => {
    const pod = await burner('burn-containerd');
    const pid = await containerPid(namespace, pod.metadata.name, 'burn');
    const relaunch = await stopComponent('containerd');
    await sleep(2 * TEST_TICK_MS);
    // The burner ran on without containerd: its shim and its process are untouched.
    expect(await readFile(`/proc/${pid}/cgroup`, 'utf8')).toContain(pod.metadata.uid);
    await startComponent(relaunch);
    await waitFor('containerd to answer', async () => (await crictl(['version'])).length > 0);
    await waitFor('the node Ready again', nodeReady, 120_000);
    expect(await containerPid(namespace, pod.metadata.name, 'burn')).toBe(pid);
    const figures = await settleAndCompare('containerd restart', pod);
    expect(figures.problems).toEqual([]);
    expect(figures.measuredNs).toBe(figures.expectedNs);
  });

  it('counts every nanosecond while the apiserver is stopped for 60 s', async () => {
    const pod = await burner('burn-apiserver');
    const relaunch = await stopComponent('kube-apiserver', { graceMs: 10_000 });
    await sleep(60_000);
    await startComponent(relaunch);
    await waitFor(
      'the apiserver ready again',
      async () => (await kubectl(['get', '--raw', '/readyz'])).code === 0,
      120_000,
    );
    await waitFor('the node Ready again', nodeReady, 120_000);
    const figures = await settleAndCompare('apiserver stopped 60 s', pod);
    expect(figures.problems).toEqual([]);
    expect(figures.measuredNs).toBe(figures.expectedNs);
  });

  it("counts a completed Job's last usage although its cgroup vanished between two ticks", async () => {
    await apply([
      {
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: { name: 'finish', namespace },
        spec: {
          backoffLimit: 0,
          template: {
            spec: {
              restartPolicy: 'Never',
              containers: [
                busyboxContainer('work', 'i=0; while [ $i -lt 600000 ]; do i=$((i+1)); done'),
              ],
            },
          },
        },
      },
    ]);
    let pod: PodStatus | undefined;
    await waitFor('the Job pod', async () => {
      pod = (await listPods(namespace, 'job-name=finish')).find((p) => p.status.qosClass);
      return pod !== undefined;
    });
    const job = pod as PodStatus;
    // The pod's counter read every millisecond until the kubelet removes the cgroup: the last
    // read came after every task of the pod had exited (the kubelet removes it only then).
    const file = join(podCgroupDir('cpuacct', job), 'cpuacct.usage');
    let lastNs: bigint | undefined;
    const deadline = Date.now() + 180_000;
    for (;;) {
      const text = await readFile(file, 'utf8').catch(() => undefined);
      if (text === undefined && lastNs !== undefined) break;
      if (text !== undefined) lastNs = BigInt(text.trim());
      if (Date.now() > deadline) throw new Error(`the Job's cgroup ${file} never went away`);
      await sleep(1);
    }
    const vanishedAt = nowNs();
    await waitForPodPhase(namespace, job.metadata.name, ['Succeeded']);
    const entries = await ledgerSettledPast(vanishedAt);
    const mine = podEntries(entries, job.metadata.uid);
    const problems = doubleCounting(entries, job.metadata.uid);
    await reportFigures({
      fault: 'Job cgroup vanished between ticks',
      expectedNs: lastNs ?? 0n,
      measuredNs: cpuNs(mine),
      entries: mine.length,
      problems,
    });
    expect(lastNs).toBeGreaterThan(100_000_000n);
    expect(problems).toEqual([]);
    expect(cpuNs(mine)).toBe(lastNs);
  });
});
