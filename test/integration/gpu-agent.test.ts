// Issue 4 through the real agent process: GPU time from the recorded-output nvidia-smi and a
// gRPC PodResources kubelet, for pods of the real apiserver whose real processes sit in real
// cgroups, flowing into the ledger (per-model rows, node conservation against the device total),
// /metrics (namespace, pod and model labels) and CostPolicy GPU pricing.
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import {
  COST_POLICY_GVK,
  conservationViolation,
  type GpuRates,
  type LedgerEntry,
  type NodeUsageEntry,
  type PodUsageEntry,
} from '@agentmeter/crds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCostPolicy } from '../support/cost-policy.ts';
import {
  FAKE_NVIDIA_SMI_BIN,
  pidsEnv,
  scenarioDir,
} from '../../node-agent/src/gpu/test-helpers.ts';
import { AgentProcess, metricValue } from '../support/agent-process.ts';
import { createPodCgroup, removePrefix, testCgroupPrefix } from '../support/cgroups.ts';
import type { FakePod } from '../support/fake-kubelet-podresources.ts';
import { FakeKubelet } from '../support/fake-kubelet-podresources.ts';
import { adminKubeConfig, controlPlane } from '../support/kube.ts';
import { largestRemainder, roundHalfEven } from '../support/reference-apportion.ts';
import { waitFor } from '../support/wait.ts';

const RUN = randomBytes(3).toString('hex');
const PREFIX = testCgroupPrefix('gpu');
const A10G = [
  'GPU-d41f6a2e-7b3c-4e59-a0c8-19f2b7e6d305',
  'GPU-6b9c0e17-2f8d-4a3b-9c5e-8e1d4f7a2b60',
];
const T4 = 'GPU-5e2b7f0c-3d1a-4c8e-9b6f-2a7d4e1c8b93';
const GPU_US_PER_HOUR = 3_600_000_000n;
const PPM = 1_000_000n;

interface Scenario {
  readonly node: string;
  readonly namespace: string;
  readonly policy: string;
  readonly entries: LedgerEntry[];
  readonly metrics: string;
  readonly uids: Map<string, string>;
}

interface ScenarioSpec {
  readonly name: string;
  /** nvidia-smi recordings; pids are substituted from `processes`. */
  readonly scenario: string;
  /** Pod name → the fixture's pid placeholders for the processes it runs. */
  readonly pods: Record<string, readonly string[]>;
  /** Pod name → device ids the kubelet allocated to it. */
  readonly devices: Record<string, readonly string[]>;
  /** Placeholders of processes outside every pod (e.g. a node daemon using the GPU). */
  readonly strays?: readonly string[];
  readonly gpuHour: GpuRates;
}

const core = adminKubeConfig().makeApiClient(CoreV1Api);
const custom = adminKubeConfig().makeApiClient(CustomObjectsApi);
const cleanups: (() => Promise<unknown>)[] = [];
let work: string;

/** Runs the agent on its own node over one GPU scenario until every pod has GPU entries. */
async function runScenario(spec: ScenarioSpec): Promise<Scenario> {
  const node = `gpu-${spec.name}-${RUN}`;
  const namespace = `gpu-${spec.name}-${RUN}`;
  const policy = `gpu-agent-${spec.name}-${RUN}`;
  await core.createNamespace({
    body: { metadata: { name: namespace, labels: { 'agentmeter.dev/test-run': namespace } } },
  });
  cleanups.push(() => core.deleteNamespace({ name: namespace }).catch(() => undefined));
  const { group, version, plural } = COST_POLICY_GVK;
  await createCostPolicy(custom, policy, {
    // Highest priority: other suites' policies on the shared apiserver never win here.
    priority: 1000,
    selector: { namespaceSelector: { matchLabels: { 'agentmeter.dev/test-run': namespace } } },
    currency: 'USD',
    rates: { gpuHour: spec.gpuHour },
  });
  cleanups.push(() =>
    custom.deleteClusterCustomObject({ group, version, plural, name: policy }).catch(() => 0),
  );

  const uids = new Map<string, string>();
  const pids: Record<string, number> = {};
  for (const [name, placeholders] of Object.entries(spec.pods)) {
    const pod = await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name },
        spec: { nodeName: node, containers: [{ name: 'main', image: 'example.invalid/gpu:1' }] },
      },
    });
    const uid = pod.metadata?.uid ?? '';
    uids.set(name, uid);
    cleanups.push(() =>
      core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 }).catch(() => 0),
    );
    // Before the agent starts, so its first discovery finds them and no GPU time is orphaned.
    const cgroup = await createPodCgroup({ uid, prefix: PREFIX });
    cleanups.push(() => cgroup.remove());
    for (const placeholder of placeholders) {
      pids[placeholder] = (cgroup.run('sleep', ['600']) as ChildProcess).pid as number;
    }
  }
  for (const placeholder of spec.strays ?? []) {
    const child = spawn('sleep', ['600'], { stdio: 'ignore' });
    cleanups.push(async () => child.kill('SIGKILL'));
    pids[placeholder] = child.pid as number;
  }

  const kubeletPods: FakePod[] = Object.entries(spec.devices).map(([name, ids]) => ({
    namespace,
    name,
    containers: [
      { name: 'main', devices: [{ resourceName: 'nvidia.com/gpu', deviceIds: [...ids] }] },
    ],
  }));
  const kubelet = await FakeKubelet.start(join(work, `${spec.name}.sock`), kubeletPods);
  cleanups.push(() => kubelet.stop());

  const stateDir = await mkdtemp(join(work, `state-${spec.name}-`));
  const agent = await AgentProcess.start({
    nodeName: node,
    kubeconfig: controlPlane().kubeconfig,
    stateDir,
    host: '127.0.0.70',
    tick: '1s',
    token: controlPlane().admin.token,
    gpu: {
      nvidiaSmi: join(FAKE_NVIDIA_SMI_BIN, 'nvidia-smi'),
      podResourcesSocket: kubelet.socketPath,
    },
    env: { FAKE_NVIDIA_SMI_SCENARIO: spec.scenario, FAKE_NVIDIA_SMI_PIDS: pidsEnv(pids) },
  });
  cleanups.push(() => agent.kill9());
  await agent.waitReady();

  let entries: LedgerEntry[] = [];
  await waitFor(`GPU entries of every pod (${spec.name})`, async () => {
    entries = await agent.ledger();
    return [...uids.values()].every(
      (uid) =>
        entries.filter(
          (e) => e.kind === 'pod-usage' && e.pod.uid === uid && e.gpu !== undefined && e.priced,
        ).length >= 4,
    );
  });
  const metrics = await agent.metrics();
  expect(await agent.stop()).toBe(0);
  return { node, namespace, policy, entries, metrics, uids };
}

function gpuTicks(s: Scenario): { node: NodeUsageEntry; pods: PodUsageEntry[]; dt: bigint }[] {
  return s.entries
    .filter(
      (e): e is NodeUsageEntry =>
        e.kind === 'node-usage' && BigInt(e.nodeTotal.gpuAllocatedUs ?? '0') > 0n,
    )
    .map((node) => ({
      node,
      pods: s.entries.filter(
        (e): e is PodUsageEntry => e.kind === 'pod-usage' && e.tick === node.tick,
      ),
      dt: BigInt(node.time.end) - BigInt(node.time.start),
    }));
}

/** The tick's device time in µs: allocation of one device, from the node total. */
function deviceDelta(devices: bigint, tick: ReturnType<typeof gpuTicks>[number]): bigint {
  const total = BigInt(tick.node.nodeTotal.gpuAllocatedUs ?? '0');
  expect(total % devices).toBe(0n);
  const d = total / devices;
  // Whole µs of the tick's window; a sub-µs remainder carried from the tick before may add one.
  expect([tick.dt / 1000n, tick.dt / 1000n + 1n]).toContain(d);
  return d;
}

function expectNodeConservation(tick: ReturnType<typeof gpuTicks>[number]): void {
  expect(conservationViolation(tick.node)).toBeNull();
  const rows = tick.node.gpuUnattributed ?? [];
  for (const field of ['Allocated', 'Active'] as const) {
    const pods = tick.pods.reduce((sum, p) => sum + BigInt(p.usage[`gpu${field}Us`] ?? '0'), 0n);
    const rest = rows.reduce(
      (sum, r) => sum + BigInt(field === 'Allocated' ? r.allocatedUs : r.activeUs),
      0n,
    );
    // Pods plus unattributed devices time is the device total, and nothing else is non-pod GPU.
    expect(pods + rest).toBe(BigInt(tick.node.nodeTotal[`gpu${field}Us`] ?? '0'));
    expect(BigInt(tick.node.pods[`gpu${field}Us`] ?? '0')).toBe(pods);
    expect(BigInt(tick.node.nonPod[`gpu${field}Us`] ?? '0')).toBe(rest);
  }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'gpu-agent-it-'));
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await removePrefix(PREFIX);
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe('GPU metering through the real agent', () => {
  describe('one pod holding two whole A10Gs (Allocation basis)', () => {
    let s: Scenario;
    beforeAll(async () => {
      s = await runScenario({
        name: 'whole',
        scenario: scenarioDir('two-gpus-one-pod'),
        pods: { trainer: ['podA', 'podA2'] },
        devices: { trainer: A10G },
        gpuHour: {
          default: '9.99',
          basis: 'Allocation',
          models: [{ model: 'NVIDIA A10G', rate: '1.0125' }],
        },
      });
    });

    it('writes both devices to the pod, per model, conserving the device total each tick', () => {
      const ticks = gpuTicks(s);
      expect(ticks.length).toBeGreaterThanOrEqual(4);
      const trainer = s.uids.get('trainer');
      for (const tick of ticks) {
        const d = deviceDelta(2n, tick);
        expectNodeConservation(tick);
        expect(tick.node.gpuUnattributed).toBeUndefined();
        const entry = tick.pods.find((p) => p.pod.uid === trainer);
        expect(entry?.pod).toMatchObject({ namespace: s.namespace, name: 'trainer' });
        // utilization.gpu 80 % and 20 %, each device's activity all the trainer's.
        const active = (d * 800_000n) / PPM + (d * 200_000n) / PPM;
        expect(entry?.usage).toMatchObject({
          gpuAllocatedUs: String(2n * d),
          gpuActiveUs: String(active),
        });
        expect(entry?.gpu).toEqual([
          { model: 'NVIDIA A10G', allocatedUs: String(2n * d), activeUs: String(active) },
        ]);
        expect(conservationViolation(entry as PodUsageEntry)).toBeNull();
      }
    });

    it('prices allocated GPU time at the model rate, rounded half-even per entry', () => {
      let priced = 0;
      for (const entry of s.entries) {
        if (entry.kind !== 'pod-usage' || entry.gpu === undefined || !entry.priced) continue;
        expect(entry.cost?.policy.name).toBe(s.policy);
        const us = BigInt(entry.usage.gpuAllocatedUs ?? '0');
        const expected = roundHalfEven(us * 1_012_500_000n, GPU_US_PER_HOUR);
        expect(entry.cost?.totalNano).toBe(expected.toString());
        expect(expected).toBeGreaterThan(0n);
        priced++;
      }
      expect(priced).toBeGreaterThanOrEqual(4);
    });

    it('exports the pod GPU series with namespace, pod and model labels', () => {
      const labels = { namespace: s.namespace, pod: 'trainer', model: 'NVIDIA A10G' };
      const allocated = metricValue(
        s.metrics,
        'agentmeter_pod_gpu_allocated_seconds_total',
        labels,
      );
      const active = metricValue(s.metrics, 'agentmeter_pod_gpu_active_seconds_total', labels);
      // The metrics run ahead of the ledger by the ticks held for the session watermark.
      const ledger = s.entries
        .filter((e): e is PodUsageEntry => e.kind === 'pod-usage' && e.pod.name === 'trainer')
        .reduce((sum, e) => sum + BigInt(e.usage.gpuAllocatedUs ?? '0'), 0n);
      expect(allocated).toBeGreaterThanOrEqual(Number(ledger) / 1e6);
      expect(active).toBeGreaterThan(0);
      expect(
        metricValue(s.metrics, 'agentmeter_device_gpu_allocated_seconds_total', {
          device: A10G[0] as string,
          model: 'NVIDIA A10G',
          sharing: 'exclusive',
        }),
      ).toBeGreaterThan(0);
    });
  });

  describe('three pods time-slicing one T4, plus a process outside every pod (Utilization basis)', () => {
    let s: Scenario;
    beforeAll(async () => {
      // The recorded time-slicing scenario with one more process: a node daemon on the GPU.
      const dir = join(work, 'timeslice-stray');
      await cp(scenarioDir('timeslice-3pods'), dir, { recursive: true });
      const pmon = await readFile(join(dir, 'pmon.txt'), 'utf8');
      await writeFile(
        join(dir, 'pmon.txt'),
        `${pmon}    0  {{pid:stray}}     C    10     4     -     -  1000   python3\n`,
      );
      const apps = await readFile(join(dir, 'query-compute-apps.csv'), 'utf8');
      await writeFile(join(dir, 'query-compute-apps.csv'), `${apps}${T4}, {{pid:stray}}, 1000\n`);
      s = await runScenario({
        name: 'slices',
        scenario: dir,
        pods: { 'chat-a': ['podA'], 'chat-b': ['podB'], 'chat-c': ['podC'] },
        devices: { 'chat-a': [`${T4}::0`], 'chat-b': [`${T4}::1`], 'chat-c': [`${T4}::2`] },
        strays: ['stray'],
        gpuHour: {
          default: '2.50',
          basis: 'Utilization',
          models: [{ model: 'Tesla T4', rate: '0.35' }],
        },
      });
    });

    it('splits the device time across the pods and leaves the stray process unattributed', () => {
      const ticks = gpuTicks(s);
      expect(ticks.length).toBeGreaterThanOrEqual(4);
      const names = new Map([...s.uids].map(([name, uid]) => [uid, name]));
      for (const tick of ticks) {
        const d = deviceDelta(1n, tick);
        expectNodeConservation(tick);
        // Allocation: one replica each. Activity (utilization.gpu 90 %): pmon SM 50/20/10/10.
        const allocated = largestRemainder(
          d,
          new Map([...s.uids.values()].map((uid) => [uid, 1n])),
        );
        const smByPod: Record<string, bigint> = { 'chat-a': 50n, 'chat-b': 20n, 'chat-c': 10n };
        const active = largestRemainder(
          (d * 900_000n) / PPM,
          new Map([
            ...[...s.uids].map(([name, uid]): [string, bigint] => [uid, smByPod[name] ?? 0n]),
            ['~unattributed', 10n],
          ]),
        );
        for (const entry of tick.pods) {
          const name = names.get(entry.pod.uid);
          expect(name).toBeDefined();
          expect(entry.pod.namespace).toBe(s.namespace);
          const row = {
            model: 'Tesla T4',
            allocatedUs: String(allocated.get(entry.pod.uid)),
            activeUs: String(active.get(entry.pod.uid)),
          };
          expect(entry.gpu).toEqual([row]);
          expect(entry.usage).toMatchObject({
            gpuAllocatedUs: row.allocatedUs,
            gpuActiveUs: row.activeUs,
          });
        }
        expect(tick.pods).toHaveLength(3);
        expect(tick.node.gpuUnattributed).toEqual([
          {
            device: T4,
            model: 'Tesla T4',
            allocatedUs: '0',
            activeUs: String(active.get('~unattributed')),
          },
        ]);
      }
    });

    it('prices active GPU time at the model rate, rounded half-even per entry', () => {
      let priced = 0;
      for (const entry of s.entries) {
        if (entry.kind !== 'pod-usage' || entry.gpu === undefined || !entry.priced) continue;
        expect(entry.cost?.policy.name).toBe(s.policy);
        const us = BigInt(entry.usage.gpuActiveUs ?? '0');
        expect(entry.cost?.totalNano).toBe(
          roundHalfEven(us * 350_000_000n, GPU_US_PER_HOUR).toString(),
        );
        priced++;
      }
      expect(priced).toBeGreaterThanOrEqual(12);
    });

    it('exports each pod with its model, and the unattributed device time', () => {
      for (const pod of s.uids.keys()) {
        const labels = { namespace: s.namespace, pod, model: 'Tesla T4' };
        const ledger = s.entries
          .filter((e): e is PodUsageEntry => e.kind === 'pod-usage' && e.pod.name === pod)
          .reduce((sum, e) => sum + BigInt(e.usage.gpuActiveUs ?? '0'), 0n);
        const allocated = metricValue(
          s.metrics,
          'agentmeter_pod_gpu_allocated_seconds_total',
          labels,
        );
        const active = metricValue(s.metrics, 'agentmeter_pod_gpu_active_seconds_total', labels);
        expect(allocated).toBeGreaterThan(0);
        expect(active).toBeGreaterThanOrEqual(Number(ledger) / 1e6);
      }
      expect(
        metricValue(s.metrics, 'agentmeter_unattributed_gpu_active_seconds_total', {
          device: T4,
          model: 'Tesla T4',
        }),
      ).toBeGreaterThan(0);
    });
  });
});
