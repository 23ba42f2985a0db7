// The agent as the chart runs it, metering real containers on the real kubelet: a 200m-limited
// and an unlimited CPU burner, a memory allocator, an fsync writer and two pods sending tens of
// MiB to each other. Once they are frozen (cgroup freezer) every counter is at rest, so the
// agent's ledger, the pods' own cgroups and the kubelet's view can be compared exactly.
import { statSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  addUsage,
  conservationViolation,
  usageFromWire,
  zeroUsage,
  type LedgerEntry,
  type PodUsageEntry,
  type Usage,
} from '@agentmeter/crds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.ts';
import { apply, kubectlJson, realNode } from './support/cluster.ts';
import {
  createNamespace,
  deleteNamespace,
  execInPod,
  podCgroupCounters,
  podCgroupDir,
  waitForPodPhase,
  type PodCgroupCounters,
  type PodStatus,
} from './support/pods.ts';
import { cadvisorMetrics, statsSummary } from './support/kubelet.ts';
import {
  agentLedgerAccess,
  cadvisorPodSample,
  podNetCounters,
  pullLedger,
  scaledSample,
} from './support/views.ts';

const MiB = 1024n * 1024n;
const BURN = ['sh', '-c', 'while :; do :; done'];
// The listener's stdin must stay open: busybox nc closes the connection at its stdin's EOF.
const LISTEN = ['sh', '-c', 'sleep 100000 | nc -l -p 5000 > /dev/null; exec sleep 100000'];

interface Spec {
  readonly name: string;
  readonly command: readonly string[];
  readonly resources?: object;
  readonly volume?: { name: string; mountPath: string; emptyDir: object };
}

const SPECS: readonly Spec[] = [
  {
    name: 'burner-200m',
    command: BURN,
    // Requests equal to limits: Guaranteed, whose cgroup has no QoS level in its path.
    resources: {
      requests: { cpu: '200m', memory: '32Mi' },
      limits: { cpu: '200m', memory: '32Mi' },
    },
  },
  { name: 'burner-unlimited', command: BURN },
  {
    name: 'allocator',
    // tmpfs pages are the pod's own anonymous memory: counted in its working set.
    command: ['sh', '-c', 'dd if=/dev/zero of=/mem/fill bs=1M count=96 && exec sleep 100000'],
    resources: { requests: { memory: '64Mi' } },
    volume: { name: 'mem', emptyDir: { medium: 'Memory' }, mountPath: '/mem' },
  },
  {
    name: 'writer',
    command: ['sleep', '100000'],
    resources: { requests: { cpu: '10m' } },
    volume: { name: 'data', emptyDir: {}, mountPath: '/data' },
  },
  { name: 'net-a', command: LISTEN },
  { name: 'net-b', command: LISTEN },
];

const QOS: Record<string, string> = {
  'burner-200m': 'Guaranteed',
  allocator: 'Burstable',
  writer: 'Burstable',
};

function manifest(namespace: string, spec: Spec, image: string): object {
  const volume = spec.volume;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: spec.name, namespace },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'main',
          image,
          imagePullPolicy: 'Never',
          command: spec.command,
          ...(spec.resources ? { resources: spec.resources } : {}),
          ...(volume ? { volumeMounts: [{ name: volume.name, mountPath: volume.mountPath }] } : {}),
        },
      ],
      ...(volume ? { volumes: [{ name: volume.name, emptyDir: volume.emptyDir }] } : {}),
    },
  };
}

function relDiff(a: bigint, b: bigint): number {
  const diff = a > b ? a - b : b - a;
  return b === 0n ? (a === 0n ? 0 : 1) : Number((diff * 1_000_000n) / b) / 1_000_000;
}

const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

/** major:minor of the block device holding `dir` (Linux dev_t encoding). */
function deviceOf(dir: string): string {
  const dev = BigInt(statSync(dir).dev);
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

async function exec(pod: PodStatus, script: string): Promise<void> {
  const res = await execInPod(pod.metadata.namespace, pod.metadata.name, ['sh', '-c', script]);
  if (res.code !== 0) throw new Error(`${script} in ${pod.metadata.name}: ${res.stderr}`);
}

async function setFreezer(pod: PodStatus, state: 'FROZEN' | 'THAWED'): Promise<void> {
  const file = join(podCgroupDir('freezer', pod), 'freezer.state');
  await writeFile(file, state);
  await waitFor(`pod ${pod.metadata.name} ${state}`, async () => {
    return (await readFile(file, 'utf8')).trim() === state;
  });
}

function podEntries(entries: readonly LedgerEntry[], uid: string): PodUsageEntry[] {
  return entries.filter((e): e is PodUsageEntry => e.kind === 'pod-usage' && e.pod.uid === uid);
}

function sum(entries: readonly PodUsageEntry[]): Usage {
  return entries.reduce((acc, e) => addUsage(acc, usageFromWire(e.usage)), zeroUsage());
}

interface Row {
  pod: PodStatus;
  agent: Usage;
  /** Average working set over the agent's ticks wholly after the freeze. */
  agentWs: bigint;
  cgroup: PodCgroupCounters;
  net: { rx: bigint; tx: bigint };
  kubeletCpuNs?: bigint;
  kubeletWs?: bigint;
  kubeletNet?: { rx: bigint; tx: bigint };
  cadvisorCpuNs?: bigint;
}

describe('metering real containers on the real node', () => {
  let namespace = '';
  const pods = new Map<string, PodStatus>();
  const rows = new Map<string, Row>();
  let entries: LedgerEntry[] = [];
  let frozen = false;

  beforeAll(async () => {
    const image = realNode().images.busybox ?? 'agentmeter.local/busybox:dev';
    namespace = await createNamespace('metering');
    await apply(SPECS.map((s) => manifest(namespace, s, image)));
    for (const spec of SPECS) {
      pods.set(spec.name, await waitForPodPhase(namespace, spec.name, ['Running']));
    }
    const get = (name: string): PodStatus => pods.get(name) as PodStatus;

    // blk-throttle counts a v1 cgroup's bytes only once a throttle rule is active on the
    // device; a no-op 1 TiB/s rule on the writer's pod turns it on, as a kubelet's I/O limit would.
    const device = deviceOf(realNode().kubeletRoot);
    await writeFile(
      join(podCgroupDir('blkio', get('writer')), 'blkio.throttle.write_bps_device'),
      `${device} 1099511627776`,
    );
    await exec(get('writer'), 'dd if=/dev/zero of=/data/f bs=1M count=48 conv=fsync');
    const ipA = get('net-a').status.podIP ?? '';
    const ipB = get('net-b').status.podIP ?? '';
    await exec(get('net-a'), `dd if=/dev/zero bs=1M count=40 2>/dev/null | nc ${ipB} 5000`);
    await exec(get('net-b'), `dd if=/dev/zero bs=1M count=24 2>/dev/null | nc ${ipA} 5000`);
    await waitFor('the allocator to fill its 96 MiB', async () => {
      return (await podCgroupCounters(get('allocator'))).workingSetBytes >= 96n * MiB;
    });
    await waitFor('the burners to use some CPU', async () => {
      const limited = await podCgroupCounters(get('burner-200m'));
      const unlimited = await podCgroupCounters(get('burner-unlimited'));
      return limited.cpuNs >= 1_000_000_000n && unlimited.cpuNs >= 3_000_000_000n;
    });

    // At rest from here on: the agent, the kernel and the kubelet can only converge.
    for (const pod of pods.values()) await setFreezer(pod, 'FROZEN');
    frozen = true;
    const frozenAt = nowNs();
    const access = await agentLedgerAccess();
    // Two whole ticks after the freeze: the last one's working set is the resting one.
    await waitFor(
      'two agent ticks wholly after the freeze',
      async () => {
        entries = await pullLedger(access);
        const after = podEntries(entries, get('allocator').metadata.uid).filter(
          (e) => BigInt(e.time.start) >= frozenAt,
        );
        return after.length >= 2;
      },
      120_000,
    );
    await waitFor('the kubelet to have read the pods after the freeze', async () => {
      const { pods: summary } = await statsSummary();
      return [...pods.values()].every((pod) => {
        const s = summary.find((p) => p.podRef.uid === pod.metadata.uid);
        return s?.cpu?.time !== undefined && BigInt(Date.parse(s.cpu.time)) * 1_000_000n > frozenAt;
      });
    });
    const { pods: summary } = await statsSummary();
    const cadvisor = await cadvisorMetrics();
    for (const [name, pod] of pods) {
      const mine = podEntries(entries, pod.metadata.uid);
      const rest = mine.filter((e) => BigInt(e.time.start) >= frozenAt);
      const restNs = rest.reduce((s, e) => s + BigInt(e.time.end) - BigInt(e.time.start), 0n);
      const kubelet = summary.find((p) => p.podRef.uid === pod.metadata.uid);
      const cadvisorCpu = cadvisorPodSample(cadvisor, 'container_cpu_usage_seconds_total', {
        namespace,
        name,
      });
      rows.set(name, {
        pod,
        agent: sum(mine),
        agentWs: (sum(rest).memoryByteSeconds * 1_000_000_000n) / restNs,
        cgroup: await podCgroupCounters(pod),
        net: await podNetCounters(pod),
        ...(kubelet?.cpu?.usageCoreNanoSeconds !== undefined
          ? { kubeletCpuNs: BigInt(kubelet.cpu.usageCoreNanoSeconds) }
          : {}),
        ...(kubelet?.memory?.workingSetBytes !== undefined
          ? { kubeletWs: BigInt(kubelet.memory.workingSetBytes) }
          : {}),
        ...(kubelet?.network?.rxBytes !== undefined
          ? {
              kubeletNet: {
                rx: BigInt(kubelet.network.rxBytes),
                tx: BigInt(kubelet.network.txBytes ?? 0),
              },
            }
          : {}),
        ...(cadvisorCpu !== undefined
          ? { cadvisorCpuNs: scaledSample(cadvisorCpu, 1_000_000_000n) }
          : {}),
      });
    }
    printTable([...rows.entries()]);
  });

  afterAll(async () => {
    // Frozen tasks cannot die: thaw before the namespace goes.
    if (frozen) for (const pod of pods.values()) await setFreezer(pod, 'THAWED').catch(() => {});
    if (namespace) await deleteNamespace(namespace);
  });

  it('finds every pod with its namespace, name and QoS class', async () => {
    for (const [name, row] of rows) {
      const mine = podEntries(entries, row.pod.metadata.uid);
      expect(mine.length, name).toBeGreaterThan(0);
      const expected = QOS[name] ?? 'BestEffort';
      expect(row.pod.status.qosClass).toBe(expected);
      for (const e of mine) {
        expect(e.pod).toMatchObject({ namespace, name, qos: expected });
      }
    }
    // And every other pod running on the node, the chart's own included.
    const lastNode = entries.filter((e) => e.kind === 'node-usage').at(-1);
    const inTick = entries.filter(
      (e): e is PodUsageEntry => e.kind === 'pod-usage' && e.tick === lastNode?.tick,
    );
    const running = await kubectlJson<{ items: PodStatus[] }>([
      'get',
      'pods',
      '-A',
      '--field-selector=status.phase=Running',
    ]);
    for (const pod of running.items) {
      const found = inTick.find((e) => e.pod.uid === pod.metadata.uid);
      expect(found?.pod, `${pod.metadata.namespace}/${pod.metadata.name}`).toMatchObject({
        namespace: pod.metadata.namespace,
        name: pod.metadata.name,
        qos: pod.status.qosClass,
      });
    }
  });

  it('matches each pod cgroup CPU within 1%, the pause container counted with its pod', async () => {
    for (const [name, row] of rows) {
      expect(relDiff(row.agent.cpuNs, row.cgroup.cpuNs), name).toBeLessThanOrEqual(0.01);
      // The pod's cgroup is the sum of its sandbox's and its container's.
      const dir = podCgroupDir('cpuacct', row.pod);
      const dirs = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory());
      expect(dirs.length, name).toBe(2);
      let childCpu = 0n;
      for (const d of dirs) {
        childCpu += BigInt((await readFile(join(dir, d.name, 'cpuacct.usage'), 'utf8')).trim());
      }
      expect(childCpu, name).toBe(row.cgroup.cpuNs);
    }
    // The 200m limit as the kernel enforces it: 20 ms of every 100 ms period.
    const limited = podCgroupDir('cpu', rows.get('burner-200m')?.pod as PodStatus);
    expect((await readFile(join(limited, 'cpu.cfs_quota_us'), 'utf8')).trim()).toBe('20000');
    expect((await readFile(join(limited, 'cpu.cfs_period_us'), 'utf8')).trim()).toBe('100000');
  });

  it("matches the allocator's working set within 5%", () => {
    const row = rows.get('allocator');
    expect(row?.cgroup.workingSetBytes).toBeGreaterThanOrEqual(96n * MiB);
    expect(relDiff(row?.agentWs ?? 0n, row?.cgroup.workingSetBytes ?? 0n)).toBeLessThanOrEqual(
      0.05,
    );
  });

  it("matches the writer's fsynced bytes within 5%", () => {
    const row = rows.get('writer');
    expect(row?.cgroup.ioWriteBytes).toBeGreaterThanOrEqual(48n * MiB);
    expect(relDiff(row?.agent.ioWriteBytes ?? 0n, row?.cgroup.ioWriteBytes ?? 0n)).toBeLessThan(
      0.05,
    );
  });

  it("matches the pods' network traffic with their netns counters within 5%", () => {
    for (const name of ['net-a', 'net-b']) {
      const row = rows.get(name);
      expect(row?.net.tx, name).toBeGreaterThanOrEqual((name === 'net-a' ? 40n : 24n) * MiB);
      expect(relDiff(row?.agent.netTxBytes ?? 0n, row?.net.tx ?? 0n), name).toBeLessThan(0.05);
      expect(relDiff(row?.agent.netRxBytes ?? 0n, row?.net.rx ?? 0n), name).toBeLessThan(0.05);
    }
  });

  it("agrees with the kubelet's own view (stats/summary and cAdvisor)", () => {
    for (const [name, row] of rows) {
      expect(row.kubeletCpuNs, name).toBeDefined();
      expect(relDiff(row.kubeletCpuNs ?? 0n, row.cgroup.cpuNs), name).toBeLessThanOrEqual(0.01);
      expect(row.cadvisorCpuNs, name).toBeDefined();
      expect(relDiff(row.cadvisorCpuNs ?? 0n, row.cgroup.cpuNs), name).toBeLessThanOrEqual(0.01);
    }
    const allocator = rows.get('allocator');
    expect(
      relDiff(allocator?.kubeletWs ?? 0n, allocator?.cgroup.workingSetBytes ?? 0n),
    ).toBeLessThanOrEqual(0.05);
  });

  it('conserves every tick: pods sum to node.pods, pods plus non-pod to the node', () => {
    const byTick = new Map<string, PodUsageEntry[]>();
    for (const entry of entries) {
      expect(conservationViolation(entry)).toBeNull();
      if (entry.kind === 'pod-usage')
        byTick.set(entry.tick, [...(byTick.get(entry.tick) ?? []), entry]);
    }
    const nodes = entries.filter((e) => e.kind === 'node-usage');
    expect(nodes.length).toBeGreaterThan(2);
    for (const node of nodes) {
      if (node.kind !== 'node-usage') continue;
      const podsSum = sum(byTick.get(node.tick) ?? []);
      expect(usageFromWire(node.pods).cpuNs).toBe(podsSum.cpuNs);
      const whole = addUsage(usageFromWire(node.pods), usageFromWire(node.nonPod));
      expect(usageFromWire(node.nodeTotal).cpuNs).toBe(whole.cpuNs);
      expect(BigInt(node.podEntries)).toBe(BigInt((byTick.get(node.tick) ?? []).length));
    }
  });
});

const fmt = (v: bigint | undefined, div: bigint): string =>
  v === undefined ? '-' : (Number((v * 1000n) / div) / 1000).toFixed(3);

/** The per-pod table of the three views, printed for the record. */
function printTable(rows: readonly [string, Row][]): void {
  const head = [
    'pod',
    'qos',
    'cpu s agent',
    'cgroup',
    'kubelet',
    'cadvisor',
    'ws MiB agent',
    'cgroup',
    'kubelet',
    'write MiB agent',
    'blkio',
    'tx MiB agent',
    'netns',
    'kubelet',
    'rx MiB agent',
    'netns',
    'kubelet',
  ];
  const lines = rows.map(([name, r]) => [
    name,
    r.pod.status.qosClass ?? '',
    fmt(r.agent.cpuNs, 1_000_000_000n),
    fmt(r.cgroup.cpuNs, 1_000_000_000n),
    fmt(r.kubeletCpuNs, 1_000_000_000n),
    fmt(r.cadvisorCpuNs, 1_000_000_000n),
    fmt(r.agentWs, MiB),
    fmt(r.cgroup.workingSetBytes, MiB),
    fmt(r.kubeletWs, MiB),
    fmt(r.agent.ioWriteBytes, MiB),
    fmt(r.cgroup.ioWriteBytes, MiB),
    fmt(r.agent.netTxBytes, MiB),
    fmt(r.net.tx, MiB),
    fmt(r.kubeletNet?.tx, MiB),
    fmt(r.agent.netRxBytes, MiB),
    fmt(r.net.rx, MiB),
    fmt(r.kubeletNet?.rx, MiB),
  ]);
  const table = [head, ...lines];
  const widths = head.map((_, i) => Math.max(...table.map((l) => (l[i] ?? '').length)));
  process.stdout.write(
    `${table.map((l) => l.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ')).join('\n')}\n`,
  );
}
