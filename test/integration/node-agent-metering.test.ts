// The node agent, as its own process, metering real processes in kubelet-style cgroups on this
// host, joined to pod objects of the real apiserver: accuracy against the kernel and /proc,
// attribution to the right pod and namespace, and node conservation.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, statfs } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import {
  addUsage,
  conservationViolation,
  usageFromWire,
  verifyChain,
  zeroUsage,
  type LedgerEntry,
  type PodUsageEntry,
  type Usage,
} from '@agentmeter/crds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess } from '../support/agent-process.ts';
import {
  CGROUP_ROOT,
  createPodCgroup,
  freeze,
  removePrefix,
  testCgroupPrefix,
  type TestPodCgroup,
} from '../support/cgroups.ts';
import { adminKubeConfig, controlPlane, deleteTestNamespace } from '../support/kube.ts';
import { waitFor } from '../support/wait.ts';

export const NODE = hostname().toLowerCase();
const PREFIX = testCgroupPrefix('it');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

async function createPods(namespace: string, names: string[]): Promise<Map<string, string>> {
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const uids = new Map<string, string>();
  for (const name of names) {
    const pod = await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name },
        spec: { nodeName: NODE, containers: [{ name: 'main', image: 'example.invalid/app:1' }] },
      },
    });
    uids.set(name, pod.metadata?.uid ?? '');
  }
  return uids;
}

async function readBig(path: string): Promise<bigint> {
  return BigInt((await readFile(path, 'utf8')).trim());
}

/** Kernel view of a v1 pod cgroup's working set: usage − total_inactive_file. */
async function kernelWorkingSet(group: TestPodCgroup): Promise<{ ws: bigint; rss: bigint }> {
  const dir = group.podDir('memory');
  const usage = await readBig(join(dir, 'memory.usage_in_bytes'));
  const stat = await readFile(join(dir, 'memory.stat'), 'utf8');
  const key = (k: string): bigint =>
    BigInt(new RegExp(`^${k} (\\d+)$`, 'm').exec(stat)?.[1] ?? '0');
  const inactive = key('total_inactive_file');
  return { ws: usage > inactive ? usage - inactive : 0n, rss: key('total_rss') };
}

function podEntries(entries: LedgerEntry[], uid: string): PodUsageEntry[] {
  return entries.filter((e): e is PodUsageEntry => e.kind === 'pod-usage' && e.pod.uid === uid);
}

function total(entries: PodUsageEntry[]): Usage {
  return entries.reduce((sum, e) => addUsage(sum, usageFromWire(e.usage)), zeroUsage());
}

/** major:minor of the block device holding `dir` (Linux dev_t encoding). */
function deviceOf(dir: string): string {
  const dev = BigInt(statSync(dir).dev);
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

function relDiff(a: bigint, b: bigint): number {
  const diff = a > b ? a - b : b - a;
  return b === 0n ? (a === 0n ? 0 : 1) : Number((diff * 1_000_000n) / b) / 1_000_000;
}

describe('node agent on real cgroups', () => {
  const namespace = `meter-${randomBytes(3).toString('hex')}`;
  const groups: TestPodCgroup[] = [];
  let stateDir: string;
  let agent: AgentProcess;
  let entries: LedgerEntry[];
  let uids: Map<string, string>;
  const kernel = {
    burnerCpu: 0n,
    burnerSchedNs: 0n,
    writerCpu: 0n,
    writerBytes: 0n,
    allocWs: [] as bigint[],
    allocRss: [] as bigint[],
    allocProcRss: [] as bigint[],
    sampleStartNs: 0n,
    sampleEndNs: 0n,
  };
  const ioDir = '/var/tmp';
  let ioDevice = '';

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'agentmeter-agent-'));
    uids = await createPods(namespace, ['burner', 'allocator', 'writer', 'idle']);
    const start = (tick: string): Promise<AgentProcess> =>
      AgentProcess.start({
        nodeName: NODE,
        kubeconfig: controlPlane().kubeconfig,
        stateDir,
        host: '127.0.0.2',
        tick,
        token: controlPlane().admin.token,
      });
    agent = await start('1s');
    await agent.waitReady();

    // Cgroups made after the agent started: their whole history is new usage on this node.
    for (const [name, uid] of uids) {
      const qos =
        name === 'allocator' ? 'Guaranteed' : name === 'idle' ? 'BestEffort' : 'Burstable';
      const driver = name === 'writer' ? 'systemd' : 'cgroupfs';
      groups.push(await createPodCgroup({ uid, prefix: PREFIX, qos, driver }));
    }
    const [burner, allocator, writer, idle] = groups as [
      TestPodCgroup,
      TestPodCgroup,
      TestPodCgroup,
      TestPodCgroup,
    ];
    idle.run('sleep', ['600']);

    // blk-throttle keeps per-cgroup byte counts on a v1 disk only once a throttle rule exists on
    // it; a no-op limit (1 TiB/s) on the writer's own cgroup turns the accounting on, as a
    // kubelet with I/O limits would.
    ioDevice = deviceOf(ioDir);
    await writeRule(writer, ioDevice);

    const burnerProc = burner.run('sh', ['-c', 'while :; do :; done']);
    const allocProc = allocator.run(process.execPath, [
      '-e',
      'const b = Buffer.alloc(192 * 1024 * 1024, 7); setInterval(() => b[0]++, 100);',
    ]);
    const file = join(ioDir, `${PREFIX}-write`);
    const dd = writer.run('dd', [
      'if=/dev/zero',
      `of=${file}`,
      'bs=1M',
      'count=64',
      'oflag=direct',
    ]);
    await new Promise((r) => dd.on('exit', r));
    await rm(file, { force: true });

    // Let the allocator settle (its buffer all resident), then sample the kernel's view of it
    // until the agent has written a tick that lies wholly inside the sampled window.
    await waitFor('the allocator to touch its buffer', async () => {
      const { rss } = await kernelWorkingSet(allocator);
      return rss >= 192n * 1024n * 1024n;
    });
    kernel.sampleStartNs = nowNs();
    const allocatorUid = uids.get('allocator') ?? '';
    let covered = false;
    while (kernel.allocWs.length < 8 || !covered) {
      const { ws, rss } = await kernelWorkingSet(allocator);
      kernel.allocWs.push(ws);
      kernel.allocRss.push(rss);
      const status = await readFile(`/proc/${allocProc.pid}/status`, 'utf8');
      kernel.allocProcRss.push(BigInt(/^RssAnon:\s+(\d+) kB$/m.exec(status)?.[1] ?? '0') * 1024n);
      await sleep(600);
      covered ||= podEntries(await agent.ledger(), allocatorUid).some(
        (e) => BigInt(e.time.start) >= kernel.sampleStartNs,
      );
    }
    kernel.sampleEndNs = nowNs();

    // Wait for the CPU the burner is to show (a busy machine gives it less than a core), then
    // freeze it, so neither the kernel nor the agent sees more CPU from it.
    await waitFor(
      'the burner to use 2.5 s of CPU',
      async () =>
        (await readBig(join(burner.podDir('cpuacct'), 'cpuacct.usage'))) >= 2_500_000_000n,
      300_000,
    );
    await freeze(burnerProc);
    const schedstat = await readFile(`/proc/${burnerProc.pid}/schedstat`, 'utf8');
    kernel.burnerSchedNs = BigInt(schedstat.split(' ')[0] ?? '0');
    kernel.burnerCpu = await readBig(join(burner.podDir('cpuacct'), 'cpuacct.usage'));
    kernel.writerCpu = await readBig(join(writer.podDir('cpuacct'), 'cpuacct.usage'));
    const blkio = await readFile(
      join(writer.podDir('blkio'), 'blkio.throttle.io_service_bytes_recursive'),
      'utf8',
    );
    kernel.writerBytes = BigInt(
      new RegExp(`^${ioDevice} Write (\\d+)$`, 'm').exec(blkio)?.[1] ?? '0',
    );
    // The agent's last tick on shutdown reads the frozen counters.
    expect(await agent.stop()).toBe(0);
    // Read the ledger the operator would: the pull API of a fresh agent on the same state.
    const reader = await start('5m');
    await reader.waitReady();
    entries = await reader.ledger();
    await reader.stop();
  });

  afterAll(async () => {
    await agent?.kill9();
    for (const group of groups) await group.remove();
    await removePrefix(PREFIX);
    await deleteTestNamespace(namespace);
    await rm(stateDir, { recursive: true, force: true });
  });

  it('writes a hash chain that verifies from the first entry', () => {
    const result = verifyChain(entries);
    expect(result).toMatchObject({ ok: true, complete: true });
    entries.forEach((entry, i) => expect(entry.seq).toBe(String(i + 1)));
  });

  it("attributes the burner's CPU within 2% of the kernel and /proc", () => {
    const cpu = total(podEntries(entries, uids.get('burner') ?? '')).cpuNs;
    expect(cpu).toBeGreaterThan(2_000_000_000n);
    expect(relDiff(cpu, kernel.burnerCpu)).toBeLessThanOrEqual(0.02);
    expect(relDiff(cpu, kernel.burnerSchedNs)).toBeLessThanOrEqual(0.02);
  });

  it("attributes the allocator's working set within 5%", () => {
    const mine = podEntries(entries, uids.get('allocator') ?? '');
    // The agent's average working set over the ticks inside the window the kernel was sampled in.
    const steady = mine.filter(
      (e) =>
        BigInt(e.time.start) >= kernel.sampleStartNs && BigInt(e.time.end) <= kernel.sampleEndNs,
    );
    expect(steady.length).toBeGreaterThanOrEqual(1);
    const seconds = steady.reduce((s, e) => s + (BigInt(e.time.end) - BigInt(e.time.start)), 0n);
    const byteSeconds = total(steady).memoryByteSeconds;
    const avgWs = (byteSeconds * 1_000_000_000n) / seconds;
    const kernelWs = kernel.allocWs.reduce((a, b) => a + b, 0n) / BigInt(kernel.allocWs.length);
    expect(avgWs).toBeGreaterThan(150n * 1024n * 1024n);
    expect(relDiff(avgWs, kernelWs)).toBeLessThanOrEqual(0.05);
    const rssSeconds = total(steady).memoryRssByteSeconds ?? 0n;
    const avgRss = (rssSeconds * 1_000_000_000n) / seconds;
    const procRss =
      kernel.allocProcRss.reduce((a, b) => a + b, 0n) / BigInt(kernel.allocProcRss.length);
    expect(relDiff(avgRss, procRss)).toBeLessThanOrEqual(0.05);
  });

  it("attributes the writer's bytes within 5%", () => {
    const io = total(podEntries(entries, uids.get('writer') ?? ''));
    expect(kernel.writerBytes).toBeGreaterThanOrEqual(64n * 1024n * 1024n);
    expect(relDiff(io.ioWriteBytes, 64n * 1024n * 1024n)).toBeLessThanOrEqual(0.05);
    expect(relDiff(io.ioWriteBytes, kernel.writerBytes)).toBeLessThanOrEqual(0.05);
  });

  it('attributes every unit to the right pod and namespace', () => {
    const podUsage = entries.filter((e): e is PodUsageEntry => e.kind === 'pod-usage');
    const ours = podUsage.filter((e) => e.pod.namespace === namespace);
    for (const entry of ours) {
      expect(uids.get(entry.pod.name)).toBe(entry.pod.uid);
      expect(entry.pod.qos).toBe(
        entry.pod.name === 'allocator'
          ? 'Guaranteed'
          : entry.pod.name === 'idle'
            ? 'BestEffort'
            : 'Burstable',
      );
    }
    expect(new Set(ours.map((e) => e.pod.name))).toEqual(
      new Set(['burner', 'allocator', 'writer', 'idle']),
    );
    // The idle pod's single sleeping process used next to no CPU; the burner got it all.
    const idle = total(podEntries(entries, uids.get('idle') ?? '')).cpuNs;
    expect(idle).toBeLessThan(100_000_000n);
  });

  it('conserves every tick: shares sum to the pod, pods plus non-pod to the node', () => {
    const ticks = new Map<string, PodUsageEntry[]>();
    for (const entry of entries) {
      expect(conservationViolation(entry)).toBeNull();
      if (entry.kind === 'pod-usage')
        ticks.set(entry.tick, [...(ticks.get(entry.tick) ?? []), entry]);
    }
    const nodes = entries.filter((e) => e.kind === 'node-usage');
    expect(nodes.length).toBeGreaterThan(5);
    for (const node of nodes) {
      if (node.kind !== 'node-usage') continue;
      const pods = total(ticks.get(node.tick) ?? []);
      expect(usageFromWire(node.pods)).toEqual({ ...pods, ...usageFromWire(node.pods) });
      expect(usageFromWire(node.pods).cpuNs).toBe(pods.cpuNs);
      const sum = addUsage(usageFromWire(node.pods), usageFromWire(node.nonPod));
      expect(usageFromWire(node.nodeTotal).cpuNs).toBe(sum.cpuNs);
      expect(BigInt(node.podEntries)).toBe(BigInt((ticks.get(node.tick) ?? []).length));
    }
  });
});

async function writeRule(group: TestPodCgroup, device: string): Promise<void> {
  const { writeFile } = await import('node:fs/promises');
  await writeFile(
    join(CGROUP_ROOT, 'blkio', group.podPath, 'blkio.throttle.write_bps_device'),
    `${device} 1099511627776`,
  );
  // The filesystem must be on a block device for direct I/O to reach blk-throttle.
  expect((await statfs('/var/tmp')).bsize).toBeGreaterThan(0);
}
