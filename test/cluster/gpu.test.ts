// GPU metering on the real node. The GPU and its driver are the only fakes: a device plugin
// registered through the real kubelet's device-plugin API advertises one `nvidia.com/gpu`
// (the T4 of the t4-single fixture), the real scheduler and kubelet give it to a real pod, and
// the kubelet's real PodResources socket tells the agent which pod holds it; nvidia-smi replays
// the fixture's recorded output with the pod's real PID. The pod's GPU time must be charged to it.
import { chmod, cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LedgerEntry, NodeUsageEntry, PodUsageEntry } from '@agentmeter/crds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.ts';
import { apply, chartRelease, helm, kubectlOk, realNode } from './support/cluster.ts';
import { startFakeGpuPlugin, type FakeGpuPlugin } from '../support/gpu-device-plugin.ts';
import {
  createNamespace,
  deleteNamespace,
  podCgroupDir,
  waitForPodPhase,
  waitForRollout,
  type PodStatus,
} from './support/pods.ts';
import { agentLedgerAccess, pullLedger } from './support/views.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FIXTURES = join(repoRoot, 'test', 'fixtures', 'gpu');
const T4 = 'GPU-5e2b7f0c-3d1a-4c8e-9b6f-2a7d4e1c8b93';
/** Where the chart mounts agent.gpu.driverHostPath in the agent's container. */
const DRIVER_MOUNT = '/host/nvidia-driver';

/**
 * A "driver install" for the agent's container: the fixture's nvidia-smi (a Node script) behind
 * a /bin/sh wrapper, since the image has no /usr/bin/env, and the scenario's recordings.
 */
async function installFakeDriver(dir: string): Promise<void> {
  const bin = join(dir, 'usr', 'bin');
  await mkdir(bin, { recursive: true });
  await cp(join(FIXTURES, 'bin', 'nvidia-smi'), join(bin, 'nvidia-smi.js'));
  await writeFile(
    join(bin, 'nvidia-smi'),
    `#!/bin/sh\nexec node ${DRIVER_MOUNT}/usr/bin/nvidia-smi.js "$@"\n`,
  );
  await chmod(join(bin, 'nvidia-smi'), 0o755);
  await cp(join(FIXTURES, 'scenarios', 't4-single'), join(dir, 'scenario'), { recursive: true });
}

/** The host PID of the pod's (only) app container, from the cgroup the kubelet made for it. */
async function appPid(pod: PodStatus): Promise<string> {
  const id = (
    await kubectlOk([
      'get',
      'pod',
      pod.metadata.name,
      '-n',
      pod.metadata.namespace,
      '-o',
      'jsonpath={.status.containerStatuses[0].containerID}',
    ])
  ).replace(/^\w+:\/\//, '');
  const dir = podCgroupDir('cpuacct', pod);
  const container = (await readdir(dir)).find((d) => d === id);
  if (!container) throw new Error(`no cgroup ${id} under ${dir}`);
  const pid = (await readFile(join(dir, container, 'cgroup.procs'), 'utf8')).split('\n')[0];
  if (!pid) throw new Error(`container ${id} has no process`);
  return pid;
}

describe('GPU time on the real node (device plugin and PodResources real, GPU replayed)', () => {
  let namespace = '';
  let plugin: FakeGpuPlugin | undefined;
  let driverDir = '';
  let pod: PodStatus | undefined;

  const upgrade = async (args: readonly string[]): Promise<void> => {
    const { release, namespace: system } = chartRelease();
    const res = await helm(
      [
        'upgrade',
        release,
        join(repoRoot, 'charts', 'agentmeter'),
        '-n',
        system,
        '--reuse-values',
        ...args,
        '--wait',
        '--timeout',
        '5m',
      ],
      { timeoutMs: 330_000 },
    );
    if (res.code !== 0) throw new Error(`helm upgrade ${args.join(' ')}: ${res.stderr}`);
    await waitForRollout(system, 'daemonset/agentmeter-agent');
  };

  beforeAll(async () => {
    const node = realNode();
    plugin = await startFakeGpuPlugin([T4]);
    await waitFor(
      'the kubelet to advertise nvidia.com/gpu',
      async () =>
        (await kubectlOk([
          'get',
          'node',
          node.nodeName,
          '-o',
          'jsonpath={.status.allocatable.nvidia\\.com/gpu}',
        ])) === '1',
      60_000,
    );
    namespace = await createNamespace('gpu');
    await apply([
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'trainer', namespace },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'train',
              image: node.images.busybox ?? 'agentmeter.local/busybox:dev',
              imagePullPolicy: 'Never',
              command: ['sleep', '3600'],
              resources: { limits: { 'nvidia.com/gpu': '1' } },
            },
          ],
        },
      },
    ]);
    pod = await waitForPodPhase(namespace, 'trainer', ['Running']);
    driverDir = join(node.dir, 'fake-nvidia-driver');
    await installFakeDriver(driverDir);
    // The agent starts with GPU metering on: PodResources of the real kubelet, the replayed
    // nvidia-smi naming the trainer's real PID as the process on the T4.
    await upgrade([
      '--set',
      'agent.gpu.enabled=true',
      '--set',
      `agent.gpu.podResourcesHostPath=${node.kubeletRoot}/pod-resources`,
      '--set',
      `agent.gpu.driverHostPath=${driverDir}`,
      '--set-json',
      `agent.extraEnv=${JSON.stringify([
        { name: 'FAKE_NVIDIA_SMI_SCENARIO', value: `${DRIVER_MOUNT}/scenario` },
        { name: 'FAKE_NVIDIA_SMI_PIDS', value: `podA=${await appPid(pod)}` },
      ])}`,
    ]);
  });

  afterAll(async () => {
    if (namespace) await deleteNamespace(namespace);
    // Back to the release the global setup installed, for the suites that follow.
    await upgrade(['--set', 'agent.gpu.enabled=false', '--set-json', 'agent.extraEnv=[]']);
    await plugin?.stop();
    if (driverDir) await rm(driverDir, { recursive: true, force: true });
  });

  it('the kubelet allocated the advertised device to the pod', () => {
    expect(plugin?.allocations).toEqual([[T4]]);
  });

  it("charges the T4's time to the pod that holds it", async () => {
    const uid = pod?.metadata.uid ?? '';
    const access = await agentLedgerAccess();
    let entries: LedgerEntry[] = [];
    const mine = (): PodUsageEntry[] =>
      entries.filter((e): e is PodUsageEntry => e.kind === 'pod-usage' && e.pod.uid === uid);
    await waitFor(
      'GPU time in the ledger for the trainer pod',
      async () => {
        entries = await pullLedger(access);
        return mine().filter((e) => BigInt(e.usage.gpuAllocatedUs ?? '0') > 0n).length >= 2;
      },
      180_000,
    );
    const gpu = mine().filter((e) => BigInt(e.usage.gpuAllocatedUs ?? '0') > 0n);
    const allocatedUs = gpu.reduce((s, e) => s + BigInt(e.usage.gpuAllocatedUs ?? '0'), 0n);
    const activeUs = gpu.reduce((s, e) => s + BigInt(e.usage.gpuActiveUs ?? '0'), 0n);
    for (const e of gpu) expect(e.gpu?.map((g) => g.model)).toEqual(['Tesla T4']);
    // The T4 is held by the trainer alone: no tick leaves its device time unattributed.
    const ticks = new Set(gpu.map((e) => e.tick));
    const unattributed = entries
      .filter((e): e is NodeUsageEntry => e.kind === 'node-usage' && ticks.has(e.tick))
      .flatMap((e) => e.gpuUnattributed ?? [])
      .filter((d) => d.device === T4)
      .reduce((s, d) => s + BigInt(d.allocatedUs), 0n);
    process.stdout.write(
      `trainer ${uid}: ${gpu.length} ticks, T4 allocated ${allocatedUs} us, active ${activeUs} us; unattributed ${unattributed} us\n`,
    );
    expect(allocatedUs).toBeGreaterThan(0n);
    expect(activeUs).toBeGreaterThan(0n);
    expect(activeUs).toBeLessThanOrEqual(allocatedUs);
    expect(unattributed).toBe(0n);
  });
});
