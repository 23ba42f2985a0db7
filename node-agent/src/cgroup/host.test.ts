// Reads this machine's real cgroup v1 hierarchies: the root cgroup, and a kubelet-style pod
// cgroup created under a unique prefix with a real process in it. Without v1 (or, for the pod
// cgroup, root) the suites fail and say why.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlockDevices } from './devices.ts';
import type { PodCgroup } from './kubepods.ts';
import { findKubepodsRoots, listPods } from './kubepods.ts';
import type { CgroupLayout, V1Controller } from './layout.ts';
import { readNodeTotals } from './node-totals.ts';
import { readNetNs, readPodCounters } from './reader.ts';
import type { ReadOptions } from './reader.ts';
import { hostCgroupV1 } from '../../../test/support/host-cgroup-v1.ts';

/** Burns this much CPU time (not wall time, so a busy machine cannot shorten it). */
function burnCpu(ms: number): void {
  const start = process.cpuUsage();
  for (;;) {
    const used = process.cpuUsage(start);
    if (used.user + used.system >= ms * 1000) return;
  }
}

async function opts(): Promise<ReadOptions> {
  // /proc/1/ns/net may be denied to us (pid 1 can hold more capabilities); this test process
  // runs in the host network namespace, so its own link stands in for the host's.
  return {
    procRoot: '/proc',
    devices: new BlockDevices({ sysRoot: '/sys' }),
    hostNetNs: await readNetNs('/proc', 'self'),
  };
}

describe('real cgroup v1 root', () => {
  let l: CgroupLayout;
  beforeAll(async () => {
    l = await hostCgroupV1();
  });
  const root: PodCgroup = {
    uid: 'root',
    qos: 'Guaranteed',
    driver: 'cgroupfs',
    hierarchy: 'v1',
    relPath: '',
    containers: [],
  };

  it('reads sane root counters, CPU increasing while burning CPU', async () => {
    const o = await opts();
    const first = await readPodCounters(l, root, o);
    expect(first.errors).toEqual([]);
    burnCpu(200);
    const second = await readPodCounters(l, root, o);
    const a = first.counters;
    const b = second.counters;
    expect(a.cpuNs).toBeGreaterThan(0n);
    expect((b.cpuNs as bigint) - (a.cpuNs as bigint)).toBeGreaterThanOrEqual(200_000_000n);
    expect(b.memoryWorkingSetBytes).toBeGreaterThan(0n);
    expect(b.memoryRssBytes).toBeGreaterThan(0n);
    expect(b.ioReadBytes).toBeGreaterThanOrEqual(0n);
    expect(b.ioWriteBytes).toBeGreaterThanOrEqual(0n);
    expect(b.identity).toBe(a.identity);
    // Net counters come only through container processes; the root has no containers.
    expect(b.netSkipped).toBe('no-process');
    const node = await readNodeTotals(l, 'v1', o);
    expect(node.errors).toEqual([]);
    expect(node.counters.cpuNs).toBeGreaterThanOrEqual(b.cpuNs as bigint);
    // CPU time, not wall time, is burnt: on a busy machine that takes longer than 5 s.
  }, 60_000);
});

describe('real kubelet-style v1 pod cgroup', () => {
  let l: CgroupLayout;
  const prefix = `agentmeter-unit-${randomBytes(4).toString('hex')}`;
  const uid = randomUUID();
  const containerId = randomBytes(32).toString('hex');
  const podRel = `${prefix}/kubepods/burstable/pod${uid}`;
  const containerRel = `${podRel}/${containerId}`;
  /** The v1 mounts the pod cgroup is made in; empty until made, so cleanup has nothing to do. */
  let mounts: string[] = [];
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    l = await hostCgroupV1('create a pod cgroup with a process in it');
    const wanted: V1Controller[] = ['cpu', 'cpuacct', 'memory', 'blkio', 'pids'];
    mounts = [...new Set(wanted.map((c) => l.v1[c]).filter((m) => m !== undefined))];
    for (const m of mounts) await mkdir(path.join(m, containerRel), { recursive: true });
    // A private network namespace makes the net counters real (only lo: zero bytes, not null).
    // The child waits for stdin so that it burns CPU only once inside the cgroup.
    child = spawn(
      'unshare',
      ['--net', process.execPath, '-e', "process.stdin.once('data', () => { for (;;); })"],
      { stdio: ['pipe', 'ignore', 'inherit'] },
    );
    await new Promise((resolve, reject) => child?.once('spawn', resolve).once('error', reject));
    // unshare execs node in the same process, so the pid is the burner's.
    for (const m of mounts) {
      await writeFile(path.join(m, containerRel, 'cgroup.procs'), String(child.pid));
    }
  });

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    for (const m of mounts) {
      for (let rel = containerRel; rel !== '.'; rel = path.dirname(rel)) {
        await rmdir(path.join(m, rel)).catch(() => undefined);
      }
    }
  });

  it('discovers the pod under an arbitrary prefix and meters the real process', async () => {
    const hierarchyRoot = l.v1.cpuacct as string;
    const { roots } = await findKubepodsRoots(hierarchyRoot);
    expect(roots).toContain(`${prefix}/kubepods`);
    const { pods, errors } = await listPods(hierarchyRoot, `${prefix}/kubepods`, 'v1');
    expect(errors).toEqual([]);
    expect(pods).toEqual([
      {
        uid,
        qos: 'Burstable',
        driver: 'cgroupfs',
        hierarchy: 'v1',
        relPath: podRel,
        containers: [{ kind: 'container', id: containerId, relPath: containerRel }],
      },
    ]);
    const pod = pods[0] as PodCgroup;
    const o = await opts();
    // The pipe holds the word until the child's runtime reads it; then it burns.
    child?.stdin?.write('go\n');
    const first = await readPodCounters(l, pod, o);
    expect(first.errors).toEqual([]);
    const a = first.counters;
    // Waits for the CPU it needs, not a fixed time: other sessions share these CPUs.
    let second = first;
    while ((second.counters.cpuNs as bigint) - (a.cpuNs as bigint) < 10_000_000n) {
      expect(second.errors).toEqual([]);
      await new Promise((r) => setTimeout(r, 50));
      second = await readPodCounters(l, pod, o);
    }
    expect(second.errors).toEqual([]);
    const b = second.counters;
    expect(b.netPid).toBe(child?.pid);
    // v1 charges only pages touched after the move into the memory cgroup.
    expect(b.memoryWorkingSetBytes).toBeGreaterThan(0n);
    expect(b.memoryRssBytes).toBeGreaterThan(0n);
    expect(b.ioReadBytes).toBeGreaterThanOrEqual(0n);
    expect(b.netNs).not.toBe(o.hostNetNs);
    expect(b.netRxBytes).toBe(0n);
    expect(b.netTxBytes).toBe(0n);
    expect(b.identity).toBe(a.identity);

    // Recreating the pod cgroup changes its identity.
    const exited = new Promise((resolve) => child?.once('exit', resolve));
    child?.kill('SIGKILL');
    await exited;
    for (const m of mounts) {
      await rmdir(path.join(m, containerRel));
      await rmdir(path.join(m, podRel));
      await mkdir(path.join(m, podRel));
    }
    const recreated = await readPodCounters(l, pod, o);
    expect(recreated.counters.identity).not.toBeNull();
    expect(recreated.counters.identity).not.toBe(b.identity);
    expect(recreated.counters.netSkipped).toBe('no-process');
  }, 60_000);
});
