// A fake GPU on the real node, for the suites that need GPU time in the ledger: a device plugin
// registered through the real kubelet's device-plugin API advertises one `nvidia.com/gpu` (the T4
// of the t4-single fixture), a real pod gets it, and the chart's agent is upgraded to GPU metering
// with the fixture's nvidia-smi replaying its recorded output with that pod's real PID. The GPU
// and its driver are the only fakes.
import { chmod, cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../../support/wait.ts';
import { startFakeGpuPlugin, type FakeGpuPlugin } from '../../support/gpu-device-plugin.ts';
import { chartRelease, helm, kubectlOk, realNode } from './cluster.ts';
import { podCgroupDir, singleContainerPod, waitForRollout, type PodStatus } from './pods.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const FIXTURES = join(repoRoot, 'test', 'fixtures', 'gpu');
export const T4 = 'GPU-5e2b7f0c-3d1a-4c8e-9b6f-2a7d4e1c8b93';
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

/** `helm upgrade --reuse-values` of the suites' release with `args`; waits for the agent. */
export async function upgradeRelease(args: readonly string[]): Promise<void> {
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
}

/** The device plugin, advertised by the kubelet once this resolves. */
export async function startGpuPlugin(): Promise<FakeGpuPlugin> {
  const node = realNode();
  const plugin = await startFakeGpuPlugin([T4]);
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
  return plugin;
}

/** A pod manifest that holds the one GPU and sleeps. */
export function gpuPod(name: string, namespace: string): object {
  return singleContainerPod(name, namespace, {
    name: 'train',
    image: realNode().images.busybox ?? 'agentmeter.local/busybox:dev',
    imagePullPolicy: 'Never',
    command: ['sleep', '3600'],
    resources: { limits: { 'nvidia.com/gpu': '1' } },
  });
}

/**
 * Upgrades the release to GPU metering: PodResources of the real kubelet, the replayed
 * nvidia-smi naming `holder`'s real PID as the process on the T4. Returns the driver directory
 * that disableGpuMetering removes.
 */
export async function enableGpuMetering(holder: PodStatus): Promise<string> {
  const node = realNode();
  const driverDir = join(node.dir, 'fake-nvidia-driver');
  await installFakeDriver(driverDir);
  await upgradeRelease([
    '--set',
    'agent.gpu.enabled=true',
    '--set',
    `agent.gpu.podResourcesHostPath=${node.kubeletRoot}/pod-resources`,
    '--set',
    `agent.gpu.driverHostPath=${driverDir}`,
    '--set-json',
    `agent.extraEnv=${JSON.stringify([
      { name: 'FAKE_NVIDIA_SMI_SCENARIO', value: `${DRIVER_MOUNT}/scenario` },
      { name: 'FAKE_NVIDIA_SMI_PIDS', value: `podA=${await appPid(holder)}` },
    ])}`,
  ]);
  return driverDir;
}

/** Back to the release the global setup installed, for the suites that follow. */
export async function disableGpuMetering(driverDir: string): Promise<void> {
  await upgradeRelease(['--set', 'agent.gpu.enabled=false', '--set-json', 'agent.extraEnv=[]']);
  if (driverDir) await rm(driverDir, { recursive: true, force: true });
}
