// Pods on the real node: waiting for them, running commands in them, and reading the counters of
// the cgroup the real kubelet made for a pod (the figures a metering suite compares with).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CGROUP_ROOT, kubeletPaths, type Qos } from '../../support/cgroups.ts';
import { waitFor } from '../../support/wait.ts';
import { kubectl, kubectlJson, kubectlOk, realNode } from './cluster.ts';

export interface PodStatus {
  metadata: { name: string; namespace: string; uid: string; labels?: Record<string, string> };
  spec: { nodeName?: string; serviceAccountName?: string; volumes?: PodVolume[] };
  status: {
    phase?: string;
    qosClass?: Qos;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; ready: boolean; restartCount: number }[];
  };
}

export interface PodVolume {
  name: string;
  projected?: {
    sources: {
      serviceAccountToken?: { audience?: string; expirationSeconds?: number; path: string };
    }[];
  };
}

export async function getPod(namespace: string, name: string): Promise<PodStatus> {
  return kubectlJson<PodStatus>(['get', 'pod', name, '-n', namespace]);
}

export async function listPods(namespace: string, selector: string): Promise<PodStatus[]> {
  return (
    await kubectlJson<{ items: PodStatus[] }>(['get', 'pods', '-n', namespace, '-l', selector])
  ).items;
}

/** Waits for a Deployment, DaemonSet or StatefulSet to finish rolling out. */
export async function waitForRollout(
  namespace: string,
  resource: string,
  timeoutMs = 180_000,
): Promise<void> {
  await kubectlOk(
    ['rollout', 'status', '-n', namespace, resource, `--timeout=${timeoutMs / 1000}s`],
    {
      timeoutMs: timeoutMs + 10_000,
    },
  );
}

/** Waits until the pod reached one of `phases`; fails with its status when it cannot any more. */
export async function waitForPodPhase(
  namespace: string,
  name: string,
  phases: readonly string[],
  timeoutMs = 120_000,
): Promise<PodStatus> {
  let pod: PodStatus | undefined;
  await waitFor(
    `pod ${namespace}/${name} to reach ${phases.join(' or ')}`,
    async () => {
      pod = await getPod(namespace, name).catch(() => undefined);
      const phase = pod?.status.phase ?? '';
      if (phase === 'Failed' && !phases.includes('Failed')) {
        throw new Error(
          `pod ${namespace}/${name} failed: ${await kubectl(['logs', '-n', namespace, name]).then((r) => r.stdout + r.stderr)}`,
        );
      }
      return phases.includes(phase);
    },
    timeoutMs,
  );
  if (!pod) throw new Error(`pod ${namespace}/${name} vanished`);
  return pod;
}

/** Runs a command in a running pod's container; resolves with its exit code and output. */
export function execInPod(
  namespace: string,
  pod: string,
  command: readonly string[],
  container?: string,
): ReturnType<typeof kubectl> {
  return kubectl([
    'exec',
    '-n',
    namespace,
    pod,
    ...(container ? ['-c', container] : []),
    '--',
    ...command,
  ]);
}

/** A container of the node's busybox image running `script` with sh, never pulled. */
export function busyboxContainer(name: string, script: string, extra: object = {}): object {
  return {
    name,
    image: realNode().images.busybox ?? 'agentmeter.local/busybox:dev',
    imagePullPolicy: 'Never',
    command: ['sh', '-c', script],
    ...extra,
  };
}

/** A bare pod of one container that stops at once when deleted. */
export function singleContainerPod(
  name: string,
  namespace: string,
  container: object,
  annotations: Readonly<Record<string, string>> = {},
): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, annotations },
    spec: { terminationGracePeriodSeconds: 1, containers: [container] },
  };
}

/** A throw-away namespace for one suite; delete it with deleteNamespace in afterAll. */
export async function createNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  await kubectlOk(['create', 'namespace', name]);
  // The controller-manager creates the default ServiceAccount; pods are refused until it exists.
  await waitFor(`ServiceAccount default in ${name}`, async () => {
    return (await kubectl(['get', 'serviceaccount', 'default', '-n', name])).code === 0;
  });
  return name;
}

export async function deleteNamespace(name: string): Promise<void> {
  await kubectlOk(['delete', 'namespace', name, '--wait=true', '--timeout=120s'], {
    timeoutMs: 130_000,
  });
}

/** Counters of a pod's cgroup (all its containers and its sandbox), as integers. */
export interface PodCgroupCounters {
  /** cpuacct.usage, ns. */
  readonly cpuNs: bigint;
  /** memory.usage_in_bytes less total_inactive_file, as the kubelet computes a working set. */
  readonly workingSetBytes: bigint;
  /** blkio bytes read and written, summed over devices. */
  readonly ioReadBytes: bigint;
  readonly ioWriteBytes: bigint;
}

/** The pod's cgroup directory under a controller, as the real kubelet (cgroupfs) made it. */
export function podCgroupDir(controller: string, pod: PodStatus): string {
  const qos = pod.status.qosClass;
  if (!qos) throw new Error(`pod ${pod.metadata.name} has no QoS class yet`);
  return join(
    CGROUP_ROOT,
    controller,
    kubeletPaths({ uid: pod.metadata.uid, qos, prefix: '' }).pod,
  );
}

async function readCounter(file: string): Promise<bigint> {
  return BigInt((await readFile(file, 'utf8')).trim());
}

function statField(text: string, key: string): bigint {
  const line = text.split('\n').find((l) => l.startsWith(`${key} `));
  return line ? BigInt(line.slice(key.length + 1).trim()) : 0n;
}

function blkioTotal(text: string, op: 'Read' | 'Write'): bigint {
  let sum = 0n;
  for (const line of text.split('\n')) {
    const [device, kind, value] = line.split(' ');
    if (device && device !== 'Total' && kind === op && value) sum += BigInt(value);
  }
  return sum;
}

export async function podCgroupCounters(pod: PodStatus): Promise<PodCgroupCounters> {
  const memory = podCgroupDir('memory', pod);
  const usage = await readCounter(join(memory, 'memory.usage_in_bytes'));
  const inactiveFile = statField(
    await readFile(join(memory, 'memory.stat'), 'utf8'),
    'total_inactive_file',
  );
  const blkio = await readFile(
    join(podCgroupDir('blkio', pod), 'blkio.throttle.io_service_bytes_recursive'),
    'utf8',
  );
  return {
    cpuNs: await readCounter(join(podCgroupDir('cpuacct', pod), 'cpuacct.usage')),
    workingSetBytes: usage > inactiveFile ? usage - inactiveFile : 0n,
    ioReadBytes: blkioTotal(blkio, 'Read'),
    ioWriteBytes: blkioTotal(blkio, 'Write'),
  };
}
