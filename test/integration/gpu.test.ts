// GPU metering against real processes in kubelet-style pod cgroups (cgroup v1 `pids`
// controller), a real gRPC PodResources server on a unix socket, and the recorded-output
// nvidia-smi stand-in found on PATH. No GPU is needed: everything but the driver is real.
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usageToWire, zeroUsage } from '@agentmeter/crds';
import type { LedgerBody, PodUsageBody, WireUsage } from '@agentmeter/crds';
import { AgentMetrics } from '../../node-agent/src/metrics/agent-metrics.ts';
import { LedgerStore } from '../../node-agent/src/ledger/index.ts';
import type { GpuTickResult } from '../../node-agent/src/gpu/attribute.ts';
import type { GpuCollectorOptions } from '../../node-agent/src/gpu/collector.ts';
import { GpuCollector } from '../../node-agent/src/gpu/collector.ts';
import { GpuMetrics } from '../../node-agent/src/gpu/metrics.ts';
import {
  FAKE_NVIDIA_SMI_BIN,
  pidsEnv,
  scenarioDir,
} from '../../node-agent/src/gpu/test-helpers.ts';
import { podGpuUsage } from '../../node-agent/src/gpu/usage.ts';
import type { FakePod } from '../support/fake-kubelet-podresources.ts';
import { FakeKubelet } from '../support/fake-kubelet-podresources.ts';
import { testCgroupPrefix } from '../support/cgroups.ts';

// Under a prefix of its own, as a kubelet with --cgroup-root makes it: a real kubelet on this host
// (the cluster suites run beside this project) removes pod cgroups it does not know from its
// top-level `kubepods`.
const PIDS_ROOT = path.join('/sys/fs/cgroup/pids', testCgroupPrefix('it-gpu'));
const S = 1_000_000_000n;
const NS = 'agents';

interface TestPod {
  name: string;
  uid: string;
  dir: string;
}

const PODS: Record<string, TestPod> = Object.fromEntries(
  ['trainer', 'chat-a', 'chat-b', 'chat-c', 'reuser'].map((name, i) => {
    const uid = `6a1e0c${i}0-9f3b-4c2d-8e7a-${String(i).padStart(12, '0')}`;
    return [
      name,
      {
        name,
        uid,
        dir: path.join(PIDS_ROOT, 'kubepods', 'burstable', `pod${uid}`, `${String(i).repeat(64)}`),
      },
    ];
  }),
);

let work: string;
let kubelet: FakeKubelet;
const created: string[] = [];
const children = new Set<ChildProcess>();

async function mkdirTracked(dir: string): Promise<void> {
  const parent = path.dirname(dir);
  if (!existsSync(parent)) await mkdirTracked(parent);
  if (!existsSync(dir)) {
    await mkdir(dir);
    created.push(dir);
  }
}

/** Starts `sleep` and moves it into the pod's container cgroup; returns its PID. */
async function startIn(pod: TestPod): Promise<number> {
  const child = spawn('sleep', ['600'], { stdio: 'ignore' });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const pid = child.pid as number;
  await writeFile(path.join(pod.dir, 'cgroup.procs'), `${pid}\n`);
  return pid;
}

async function stop(pid: number): Promise<void> {
  const child = [...children].find((c) => c.pid === pid);
  if (child === undefined) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

function lookupPod(namespace: string, name: string): { uid: string; phase: string } | undefined {
  const pod = PODS[name];
  return namespace === NS && pod !== undefined ? { uid: pod.uid, phase: 'Running' } : undefined;
}

function names(uid: string): { namespace: string; pod: string } | undefined {
  const pod = Object.values(PODS).find((p) => p.uid === uid);
  return pod === undefined ? undefined : { namespace: NS, pod: pod.name };
}

function holding(name: string, resource: string, ...ids: string[]): FakePod {
  return {
    namespace: NS,
    name,
    containers: [{ name: 'main', devices: [{ resourceName: resource, deviceIds: ids }] }],
  };
}

function collector(
  scenario: string,
  pids: Record<string, number>,
  extra: Partial<GpuCollectorOptions> = {},
): GpuCollector {
  return new GpuCollector({
    nvidiaSmi: {
      timeoutMs: 5_000,
      env: {
        ...process.env,
        PATH: `${FAKE_NVIDIA_SMI_BIN}:${process.env.PATH ?? ''}`,
        FAKE_NVIDIA_SMI_SCENARIO: scenarioDir(scenario),
        FAKE_NVIDIA_SMI_PIDS: pidsEnv(pids),
        FAKE_NVIDIA_SMI_LOG: path.join(work, 'calls.log'),
      },
    },
    podResources: { socketPath: kubelet.socketPath, deadlineMs: 2_000 },
    lookupPod,
    procRoot: '/proc',
    ...extra,
  });
}

/** One refresh and two collects 10 s apart (monotonic ns), as the agent's tick would. */
async function tick(c: GpuCollector): Promise<GpuTickResult> {
  expect(await c.refresh()).toEqual([]);
  await c.collect(1000n * S);
  const { result, errors } = await c.collect(1010n * S);
  expect(errors).toEqual([]);
  expect(result).not.toBeNull();
  return result as GpuTickResult;
}

function expectConserved(r: GpuTickResult): void {
  for (const d of r.devices) {
    const pods = r.pods.filter((p) => p.key === d.key);
    const rest = r.unattributed.find((u) => u.key === d.key);
    expect(pods.reduce((s, p) => s + p.allocatedUs, 0n) + (rest?.allocatedUs ?? 0n)).toBe(
      d.allocatedUs,
    );
    expect(pods.reduce((s, p) => s + p.activeUs, 0n) + (rest?.activeUs ?? 0n)).toBe(d.activeUs);
  }
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'gpu-it-'));
  kubelet = await FakeKubelet.start(path.join(work, 'kubelet.sock'));
  for (const pod of Object.values(PODS)) await mkdirTracked(pod.dir);
});

afterAll(async () => {
  for (const child of [...children]) await stop(child.pid as number);
  await kubelet?.stop();
  // Children first; only what this suite created.
  for (const dir of created.reverse()) await rmdir(dir).catch(() => undefined);
  await rm(work, { recursive: true, force: true });
});

describe('GPU metering with real cgroups, a gRPC kubelet and nvidia-smi on PATH', () => {
  it('one pod holding two whole GPUs: allocated and active per device, through the ledger and /metrics', async () => {
    const trainer = PODS.trainer as TestPod;
    const pids = { podA: await startIn(trainer), podA2: await startIn(trainer) };
    kubelet.pods = [
      holding(
        'trainer',
        'nvidia.com/gpu',
        'GPU-d41f6a2e-7b3c-4e59-a0c8-19f2b7e6d305',
        'GPU-6b9c0e17-2f8d-4a3b-9c5e-8e1d4f7a2b60',
      ),
    ];
    const c = collector('two-gpus-one-pod', pids);
    const r = await tick(c);
    await c.stop();
    expect(r.pods.map((p) => [p.podUid, p.model, p.allocatedUs, p.activeUs])).toEqual([
      [trainer.uid, 'NVIDIA A10G', 10_000_000n, 2_000_000n],
      [trainer.uid, 'NVIDIA A10G', 10_000_000n, 8_000_000n],
    ]);
    expect(r.devices.every((d) => d.sharing === 'exclusive')).toBe(true);
    expect(r.unattributed).toEqual([]);
    expectConserved(r);

    // Ledger: the pod's entry carries the summed GPU time, and reads back identical.
    const usage = podGpuUsage(r).get(trainer.uid);
    expect(usage).toEqual({
      gpuAllocatedUs: 20_000_000n,
      gpuActiveUs: 10_000_000n,
      byModel: [{ model: 'NVIDIA A10G', allocatedUs: 20_000_000n, activeUs: 10_000_000n }],
    });
    const wire: WireUsage = {
      ...usageToWire(zeroUsage()),
      gpuAllocatedUs: String(usage?.gpuAllocatedUs),
      gpuActiveUs: String(usage?.gpuActiveUs),
    };
    const body: PodUsageBody = {
      kind: 'pod-usage',
      time: { start: '1000000000000', end: '1010000000000' },
      tick: '1010000000000',
      pod: { uid: trainer.uid, namespace: NS, name: trainer.name, qos: 'Burstable' },
      usage: wire,
      shares: [{ session: null, usage: wire }],
      cost: null,
      priced: false,
      flags: [],
    };
    const store = await LedgerStore.open({
      dir: path.join(work, 'state'),
      identity: { node: 'node-1', agentId: 'gpu-it' },
    });
    await store.append([body as LedgerBody]);
    const [entry] = await store.readAfter(0n, 10);
    await store.close();
    expect(entry).toMatchObject({
      kind: 'pod-usage',
      pod: { uid: trainer.uid, namespace: NS, name: 'trainer' },
    });
    expect((entry as unknown as PodUsageBody).usage).toMatchObject({
      gpuAllocatedUs: '20000000',
      gpuActiveUs: '10000000',
    });

    // /metrics: the agent's namespace counters and the GPU series (namespace, pod, model).
    const agent = new AgentMetrics();
    agent.addPodUsage(NS, trainer.name, {
      ...zeroUsage(),
      gpuAllocatedUs: usage?.gpuAllocatedUs,
      gpuActiveUs: usage?.gpuActiveUs,
    });
    const text = await agent.render('prometheus');
    // Per-namespace GPU counters come from the agent's metrics; per-pod series carry the model
    // and come from the GPU collector's metrics, checked next.
    expect(text).toContain(
      `agentmeter_namespace_gpu_allocated_seconds_total{namespace="agents"} 20`,
    );
    expect(text).toContain(`agentmeter_namespace_gpu_active_seconds_total{namespace="agents"} 10`);
    const gpuMetrics = new GpuMetrics();
    gpuMetrics.addTick(r, names);
    const registry = new Registry();
    gpuMetrics.register(registry);
    const gpuText = await registry.metrics();
    expect(gpuText).toContain(
      'agentmeter_pod_gpu_allocated_seconds_total{namespace="agents",pod="trainer",model="NVIDIA A10G"} 20',
    );
    expect(gpuText).toContain(
      'agentmeter_pod_gpu_active_seconds_total{namespace="agents",pod="trainer",model="NVIDIA A10G"} 10',
    );
    for (const pid of Object.values(pids)) await stop(pid);
  });

  it('three pods time-slicing one GPU at different SM shares', async () => {
    const T4 = 'GPU-5e2b7f0c-3d1a-4c8e-9b6f-2a7d4e1c8b93';
    const pods = [PODS['chat-a'], PODS['chat-b'], PODS['chat-c']] as TestPod[];
    const pids = {
      podA: await startIn(pods[0] as TestPod),
      podB: await startIn(pods[1] as TestPod),
      podC: await startIn(pods[2] as TestPod),
    };
    kubelet.pods = pods.map((p, i) => holding(p.name, 'nvidia.com/gpu', `${T4}::${i}`));
    const c = collector('timeslice-3pods', pids);
    const r = await tick(c);
    await c.stop();
    const byPod = new Map(r.pods.map((p) => [p.podUid, p]));
    expect(pods.map((p) => [byPod.get(p.uid)?.allocatedUs, byPod.get(p.uid)?.activeUs])).toEqual(
      // Sorted by UID, chat-a gets the leftover µs of the equal allocation split.
      [
        [3_333_334n, 5_625_000n],
        [3_333_333n, 2_250_000n],
        [3_333_333n, 1_125_000n],
      ],
    );
    expect(r.devices[0]).toMatchObject({
      sharing: 'timesliced',
      allocatedUs: 10_000_000n,
      activeUs: 9_000_000n,
    });
    expectConserved(r);
    // Never the device value copied to each pod: the active parts sum to the device's.
    expect(r.pods.reduce((s, p) => s + p.activeUs, 0n)).toBe(9_000_000n);
    for (const pid of Object.values(pids)) await stop(pid);
  });

  it('MIG with two instances, keyed by GPU instance', async () => {
    const U = 'GPU-8c0e4a4d-61b2-4f6a-b1f3-5d7c2e9a0b14';
    const a = PODS['chat-a'] as TestPod;
    const b = PODS['chat-b'] as TestPod;
    const pids = { podA: await startIn(a), podB: await startIn(b) };
    kubelet.pods = [
      holding(a.name, 'nvidia.com/mig-3g.20gb', 'MIG-3f9d2c71-0a5e-5b8c-9e14-7a6b3c2d1e0f'),
      holding(b.name, 'nvidia.com/mig-3g.20gb', 'MIG-b27e8d40-6c13-5f2a-8d91-0e4f5a6b7c8d'),
    ];
    const c = collector('a100-mig-2gi', pids);
    const r = await tick(c);
    await c.stop();
    expect(r.devices.map((d) => [d.key, d.sharing, d.model])).toEqual([
      [`${U}/gi1`, 'mig', 'NVIDIA A100-SXM4-40GB MIG 3g.20gb'],
      [`${U}/gi2`, 'mig', 'NVIDIA A100-SXM4-40GB MIG 3g.20gb'],
    ]);
    expect(r.pods.map((p) => [p.podUid, p.key, p.allocatedUs])).toEqual(
      [
        [a.uid, `${U}/gi1`, 10_000_000n],
        [b.uid, `${U}/gi2`, 10_000_000n],
      ].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
    );
    expectConserved(r);
    for (const pid of Object.values(pids)) await stop(pid);
  });

  it('a PID reused by another pod between ticks is charged to the new pod', async () => {
    const trainer = PODS.trainer as TestPod;
    const reuser = PODS.reuser as TestPod;
    kubelet.pods = [];
    let pid = await startIn(trainer);
    const c = collector('t4-single', { podA: pid });
    const first = await tick(c);
    expect(first.pods.map((p) => p.podUid)).toEqual([trainer.uid]);

    // Kill it and have the kernel hand the same PID to a process that joins another pod.
    const reused = pid;
    await stop(pid);
    let again = -1;
    for (let attempt = 0; attempt < 20 && again !== reused; attempt++) {
      await writeFile('/proc/sys/kernel/ns_last_pid', String(reused - 1));
      const child = spawn('sleep', ['600'], { stdio: 'ignore' });
      children.add(child);
      child.once('exit', () => children.delete(child));
      again = child.pid as number;
      if (again !== reused) await stop(again);
    }
    expect(again).toBe(reused);
    await writeFile(path.join(reuser.dir, 'cgroup.procs'), `${again}\n`);
    pid = again;
    const misses = c.procMapStats.misses;
    await c.refresh();
    const { result } = await c.collect(1020n * S);
    await c.stop();
    expect(c.procMapStats.misses).toBe(misses + 1);
    expect(result?.pods.map((p) => [p.podUid, p.activeUs])).toEqual([[reuser.uid, 3_500_000n]]);
    expect((await readFile(`/proc/${pid}/cgroup`, 'utf8')).includes(`pod${reuser.uid}`)).toBe(true);
    await stop(pid);
  });

  it('a hung nvidia-smi is killed at the timeout and the collector carries on', async () => {
    const errors: string[] = [];
    const c = collector(
      'hang',
      {},
      {
        nvidiaSmi: {
          // Long enough for the stand-in (a Node script) to start and log its PID.
          timeoutMs: 1_500,
          env: {
            ...process.env,
            PATH: `${FAKE_NVIDIA_SMI_BIN}:${process.env.PATH ?? ''}`,
            FAKE_NVIDIA_SMI_SCENARIO: scenarioDir('hang'),
            FAKE_NVIDIA_SMI_LOG: path.join(work, 'hang.log'),
          },
        },
        onError: (e) => errors.push(e.reason),
      },
    );
    const started = Date.now();
    await c.refresh();
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(errors).toEqual(['timeout']);
    const [line] = (await readFile(path.join(work, 'hang.log'), 'utf8')).trim().split('\n');
    const hungPid = Number(line?.split(' ')[0]);
    for (let i = 0; i < 100 && existsSync(`/proc/${hungPid}`); i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(`/proc/${hungPid}`)).toBe(false);
    expect(await c.collect(1n * S)).toMatchObject({ result: null });
    await c.stop();
  });

  it('garbage XML from nvidia-smi is a parse error, not a crash', async () => {
    const errors: string[] = [];
    const c = collector(
      'garbage-xml',
      {},
      { onError: (e) => errors.push(`${e.source}:${e.reason}`) },
    );
    await c.refresh();
    expect(errors).toEqual(['nvidia-smi:parse']);
    await c.stop();
  });
});
