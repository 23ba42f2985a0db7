// Bad input never crashes the agent: a cgroup file with garbage, a missing controller, a pod
// directory that is not a directory, and an apiserver that goes away and comes back. Each shows
// up as a metric and a log line, and metering of everything else goes on. The kernel cannot be
// made to serve garbage, so this suite points the agent at a cgroupfs-shaped tree it builds.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { usageFromWire, type PodUsageEntry } from '@agentmeter/crds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../../hack/control-plane.ts';
import { AgentProcess, metricValue } from '../support/agent-process.ts';

const NODE = `faulty-${hostname().toLowerCase()}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface FakeHost {
  root: string;
  cgroup: string;
  setCpu(uid: string, value: string): Promise<void>;
}

/** A host root with cpuacct and memory mounted but no blkio controller at all. */
async function fakeHost(): Promise<FakeHost> {
  const root = await mkdtemp(join(tmpdir(), 'agentmeter-fakehost-'));
  const cgroup = join(root, 'sys/fs/cgroup');
  await mkdir(join(root, 'proc/1'), { recursive: true });
  await mkdir(join(root, 'sys/dev/block'), { recursive: true });
  await writeFile(
    join(root, 'proc/1/mountinfo'),
    [
      '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
      '33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct',
      '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
      '',
    ].join('\n'),
  );
  for (const controller of ['cpuacct', 'memory']) {
    await mkdir(join(cgroup, controller, 'kubepods/burstable'), { recursive: true });
  }
  await writeFile(join(cgroup, 'cpuacct/cpuacct.usage'), '900000000000\n');
  await writeFile(join(cgroup, 'memory/memory.usage_in_bytes'), '4000000000\n');
  await writeFile(join(cgroup, 'memory/memory.stat'), 'total_inactive_file 1000\ntotal_rss 3000\n');
  return {
    root,
    cgroup,
    setCpu: (uid, value) =>
      writeFile(join(cgroup, 'cpuacct/kubepods/burstable', `pod${uid}`, 'cpuacct.usage'), value),
  };
}

async function addPod(
  host: FakeHost,
  uid: string,
  cpu: string,
  memoryAsFile = false,
): Promise<void> {
  const cpuDir = join(host.cgroup, 'cpuacct/kubepods/burstable', `pod${uid}`);
  await mkdir(cpuDir, { recursive: true });
  await writeFile(join(cpuDir, 'cpuacct.usage'), cpu);
  await writeFile(join(cpuDir, 'cgroup.procs'), '');
  const memDir = join(host.cgroup, 'memory/kubepods/burstable', `pod${uid}`);
  if (memoryAsFile) {
    await writeFile(memDir, 'not a directory');
    return;
  }
  await mkdir(memDir, { recursive: true });
  await writeFile(join(memDir, 'memory.usage_in_bytes'), '1048576\n');
  await writeFile(join(memDir, 'memory.stat'), 'total_inactive_file 0\ntotal_rss 1048576\n');
  await writeFile(join(memDir, 'cgroup.procs'), '');
}

describe('node agent with bad input', () => {
  let plane: ControlPlane;
  let host: FakeHost;
  let agent: AgentProcess;
  let stateDir: string;
  const uids = new Map<string, string>();
  const namespace = `faults-${randomBytes(3).toString('hex')}`;

  async function createPod(name: string): Promise<string> {
    const kc = new KubeConfig();
    kc.loadFromFile(plane.kubeconfig);
    const pod = await kc.makeApiClient(CoreV1Api).createNamespacedPod({
      namespace,
      body: {
        metadata: { name },
        spec: { nodeName: NODE, containers: [{ name: 'main', image: 'example.invalid/app:1' }] },
      },
    });
    const uid = pod.metadata?.uid ?? '';
    uids.set(name, uid);
    return uid;
  }

  beforeAll(async () => {
    // Its own control plane: this suite stops the apiserver, which others must not see.
    plane = await startControlPlane({ log: () => undefined });
    const kc = new KubeConfig();
    kc.loadFromFile(plane.kubeconfig);
    await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
    host = await fakeHost();
    await addPod(host, await createPod('healthy'), '1000\n');
    await addPod(host, await createPod('garbage'), 'this is not a number\n');
    await addPod(host, await createPod('not-a-dir'), '5000\n', true);
    stateDir = await mkdtemp(join(tmpdir(), 'agentmeter-faults-'));
    agent = await AgentProcess.start({
      nodeName: NODE,
      kubeconfig: plane.kubeconfig,
      stateDir,
      host: '127.0.0.4',
      tick: '1s',
      token: plane.admin.token,
      extraArgs: [
        `--cgroup-root=${host.cgroup}`,
        `--proc-root=${join(host.root, 'proc')}`,
        `--sys-root=${join(host.root, 'sys')}`,
      ],
    });
    await agent.waitReady();
    await sleep(2500);
  });

  afterAll(async () => {
    await agent?.kill9();
    await plane?.stop();
    await rm(host.root, { recursive: true, force: true });
    await rm(stateDir, { recursive: true, force: true });
  });

  it('counts a garbage counter file as a parse error and logs it', async () => {
    const metrics = await agent.metrics();
    expect(
      metricValue(metrics, 'agentmeter_cgroup_read_errors_total', {
        resource: 'cpu',
        reason: 'parse',
      }),
    ).toBeGreaterThan(0);
    expect(
      agent
        .jsonLogs()
        .some((l) => l.msg === 'cgroup read error' && l.code === 'parse' && l.resource === 'cpu'),
    ).toBe(true);
  });

  it('counts a missing controller and a pod path that is not a directory', async () => {
    const metrics = await agent.metrics();
    expect(
      metricValue(metrics, 'agentmeter_cgroup_read_errors_total', {
        resource: 'io',
        reason: 'missing',
      }),
    ).toBeGreaterThan(0);
    expect(
      metricValue(metrics, 'agentmeter_cgroup_read_errors_total', {
        resource: 'memory',
        reason: 'not-a-directory',
      }),
    ).toBeGreaterThan(0);
    expect(agent.jsonLogs().some((l) => l.code === 'not-a-directory')).toBe(true);
  });

  it('keeps metering the healthy pod, and the garbage pod once its file is readable again', async () => {
    await host.setCpu(uids.get('healthy') ?? '', '3000\n');
    await host.setCpu(uids.get('garbage') ?? '', '7000\n');
    const cpuOf = async (name: string): Promise<bigint> =>
      (await agent.ledger())
        .filter((e): e is PodUsageEntry => e.kind === 'pod-usage' && e.pod.name === name)
        .reduce((sum, e) => sum + usageFromWire(e.usage).cpuNs, 0n);
    // Ticks reach the ledger once the session watermark (2 ticks) has passed.
    // Both cgroups existed before the agent's first tick, so only growth after it counts.
    await expect.poll(() => cpuOf('healthy'), { timeout: 20_000, interval: 500 }).toBe(2000n);
    // The garbage pod had no readable baseline: its first readable value is its whole history.
    await expect.poll(() => cpuOf('garbage'), { timeout: 20_000, interval: 500 }).toBe(7000n);
    expect((await fetch(`${agent.healthUrl}/healthz`)).status).toBe(200);
  });

  it('survives the apiserver going away, says so, and recovers on its own', async () => {
    await plane.stopServers();
    await sleep(4000);
    expect(agent.child.exitCode).toBeNull();
    expect((await fetch(`${agent.healthUrl}/healthz`)).status).toBe(200);
    const during = await agent.metrics();
    expect(metricValue(during, 'agentmeter_pod_watch_restarts_total')).toBeGreaterThan(0);
    expect(agent.jsonLogs().some((l) => l.level === 'warn' || l.level === 'error')).toBe(true);

    await plane.startServers();
    // A pod created after the outage is seen and metered: the watch came back by itself.
    const uid = await createPod('after-outage');
    await addPod(host, uid, '100\n');
    await expect
      .poll(
        async () =>
          (await agent.ledger()).some(
            (e) => e.kind === 'pod-usage' && e.pod.name === 'after-outage',
          ),
        { timeout: 45_000, interval: 500 },
      )
      .toBe(true);
    expect(agent.child.exitCode).toBeNull();
  });
});
