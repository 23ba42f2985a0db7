import { cp, mkdir, mkdtemp, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { BlockDevices } from './devices.ts';
import { classifyError } from './errors.ts';
import type { PodCgroup } from './kubepods.ts';
import { discoverPods } from './kubepods.ts';
import type { CgroupLayout } from './layout.ts';
import { detectLayout } from './layout.ts';
import { NET_CHECK_EVERY, createPodCounterReader, readNetNs, readPodCounters } from './reader.ts';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/cgroup/', import.meta.url));

interface Loaded {
  root: string;
  layout: CgroupLayout;
  pods: PodCgroup[];
  read: (pod: PodCgroup, layout?: CgroupLayout) => ReturnType<typeof readPodCounters>;
}

async function load(root: string): Promise<Loaded> {
  const layout = await detectLayout({ mountinfoPath: `${root}/proc/1/mountinfo`, hostRoot: root });
  const { pods } = await discoverPods(layout);
  const opts = {
    procRoot: `${root}/proc`,
    devices: new BlockDevices({ sysRoot: `${root}/sys` }),
    hostNetNs: await readNetNs(`${root}/proc`, 1),
  };
  return { root, layout, pods, read: (pod, l = layout) => readPodCounters(l, pod, opts) };
}

function pod(loaded: Loaded, uid: string): PodCgroup {
  const p = loaded.pods.find((x) => x.uid === uid);
  if (!p) throw new Error(`no pod ${uid}`);
  return p;
}

const temps: string[] = [];
afterEach(async () => {
  await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function tempCopy(name: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'am-cgroup-'));
  temps.push(dir);
  await cp(FIXTURES + name, dir, { recursive: true, verbatimSymlinks: true });
  return dir;
}

describe('readPodCounters on fixture trees', () => {
  it('v2 systemd containerd, Burstable: stacked dm device counted once, net from the pod netns', async () => {
    const f = await load(FIXTURES + 'v2-systemd-containerd');
    const { counters, errors } = await f.read(pod(f, '2c9f8a79-5391-454b-88cb-86190881cb96'));
    expect(errors).toEqual([]);
    expect(counters).toMatchObject({
      cpuNs: 3795681254000n,
      memoryWorkingSetBytes: 48648192n - 159744n,
      memoryRssBytes: 44892160n,
      ioReadBytes: 1459200n,
      ioWriteBytes: 314773504n,
      netRxBytes: 1234567890123n,
      netTxBytes: 987654321n,
      netNs: 'net:[4026532301]',
    });
    expect(counters.netSkipped).toBeUndefined();
    expect([4241, 4242]).toContain(counters.netPid);
    expect(counters.identity).toMatch(/^\d+$/);
  });

  it('v2 Guaranteed host-network pod: net skipped, empty io.stat is zero I/O', async () => {
    const f = await load(FIXTURES + 'v2-systemd-containerd');
    const { counters, errors } = await f.read(pod(f, '7922aa99-d4aa-4885-a953-82976860b23a'));
    expect(errors).toEqual([]);
    expect(counters).toMatchObject({
      ioReadBytes: 0n,
      ioWriteBytes: 0n,
      netRxBytes: null,
      netTxBytes: null,
      netSkipped: 'host-network',
      netNs: 'net:[4026531840]',
    });
  });

  it('v2 BestEffort: u64 counters beyond 2^53 exact, working set clamped at 0, no live process', async () => {
    const f = await load(FIXTURES + 'v2-systemd-containerd');
    const { counters, errors } = await f.read(pod(f, 'dbdd9718-6f63-40ef-987e-34776599d7d6'));
    expect(errors).toEqual([]);
    expect(counters).toMatchObject({
      cpuNs: 18446744073709551000n,
      memoryWorkingSetBytes: 0n,
      memoryRssBytes: 9007199254740993n,
      netRxBytes: null,
      netSkipped: 'no-process',
      netPid: null,
    });
  });

  it('v2 cgroupfs CRI-O: conmon (host netns) is not used for network', async () => {
    const f = await load(FIXTURES + 'v2-cgroupfs-crio');
    const { counters, errors } = await f.read(pod(f, '5a89bcaa-3509-4375-83e1-b9e7a5712123'));
    expect(errors).toEqual([]);
    expect(counters).toMatchObject({
      cpuNs: 250000000n,
      memoryWorkingSetBytes: 16777216n,
      memoryRssBytes: 16777216n,
      ioReadBytes: 90430464n + 1459200n,
      ioWriteBytes: 299008000n + 314773504n,
      netRxBytes: 5000n,
      netTxBytes: 6000n,
    });
    expect(counters.netPid).toBe(7001);
  });

  it('v1 cgroupfs containerd: cpuacct ns, total_* memory, md RAID counted at its disks', async () => {
    const f = await load(FIXTURES + 'v1-cgroupfs-containerd');
    const { counters, errors } = await f.read(pod(f, 'f6adb0af-0855-4bab-b25b-c853f18d0ce2'));
    expect(errors).toEqual([]);
    expect(counters).toMatchObject({
      cpuNs: 107292866812141n,
      memoryWorkingSetBytes: 1684959232n - 1294123008n,
      memoryRssBytes: 13766656n,
      ioReadBytes: 4096n,
      ioWriteBytes: 655360n + 1310720n,
      netRxBytes: 565777389n,
      netTxBytes: 2081247n,
    });
    // cpu and cpuacct are one mount: identity has cpuacct, memory and blkio inodes.
    expect(counters.identity?.split('/')).toHaveLength(3);
  });

  it('hybrid systemd CRI-O with separate cpu/cpuacct: reads v1, blkio without entries is zero', async () => {
    const f = await load(FIXTURES + 'hybrid-systemd-crio');
    const { counters, errors } = await f.read(pod(f, 'd0511cd2-29d2-4215-be0f-f77bc0609d99'));
    expect(errors).toEqual([]);
    expect(counters).toMatchObject({
      cpuNs: 9007199254740993n,
      memoryWorkingSetBytes: 0n,
      memoryRssBytes: 50000n,
      ioReadBytes: 0n,
      ioWriteBytes: 0n,
      netRxBytes: 100n,
      netTxBytes: 200n,
      netNs: 'net:[4026532999]',
    });
  });
});

describe('the process net counters are read through', () => {
  const CRIO_POD = 'sys/fs/cgroup/kubepods/burstable/pod5a89bcaa-3509-4375-83e1-b9e7a5712123';
  const CRIO_CONTAINER = `${CRIO_POD}/crio-610713dca419d7deb83a1246d0c1ee0ac2e23b81cbb29bba37147e88e1848cda`;

  /** Process `pid` under the fixture's /proc, in namespace `netNs`, with its eth0 counters. */
  async function writeProcess(
    dir: string,
    pid: number,
    netNs: string,
    rx: number,
    tx: number,
  ): Promise<void> {
    await mkdir(`${dir}/proc/${pid}/ns`, { recursive: true });
    await mkdir(`${dir}/proc/${pid}/net`);
    await symlink(netNs, `${dir}/proc/${pid}/ns/net`);
    await writeFile(
      `${dir}/proc/${pid}/net/dev`,
      `Inter-| Receive | Transmit\n face |bytes packets|bytes packets\n  eth0: ${rx} 1 0 0 0 0 0 0 ${tx} 1 0 0 0 0 0 0\n`,
    );
  }

  /** A second container process, 7002, in the pod's namespace, with its own counters. */
  async function addProcess(dir: string): Promise<void> {
    await writeProcess(dir, 7002, 'net:[4026532555]', 7000, 8000);
    await writeFile(`${dir}/${CRIO_CONTAINER}/cgroup.procs`, '7001\n7002\n');
  }

  async function reader(dir: string, netCheckEvery?: number) {
    const f = await load(dir);
    const r = createPodCounterReader(f.layout, {
      procRoot: `${dir}/proc`,
      devices: new BlockDevices({ sysRoot: `${dir}/sys` }),
      hostNetNs: await readNetNs(`${dir}/proc`, 1),
      ...(netCheckEvery === undefined ? {} : { netCheckEvery }),
    });
    const p = pod(f, '5a89bcaa-3509-4375-83e1-b9e7a5712123');
    return { read: () => r.read(p).counters, close: () => r.close() };
  }

  it('keeps the same process while it lives in the same namespace', async () => {
    const dir = await tempCopy('v2-cgroupfs-crio');
    const r = await reader(dir);
    expect(r.read()).toMatchObject({ netPid: 7001, netRxBytes: 5000n });
    await addProcess(dir);
    expect(r.read()).toMatchObject({ netPid: 7001, netRxBytes: 5000n });
    r.close();
  });

  it('moves to another container process once the kept one exits, at its next check', async () => {
    const dir = await tempCopy('v2-cgroupfs-crio');
    const r = await reader(dir);
    expect(r.read().netPid).toBe(7001);
    await addProcess(dir);
    await rm(`${dir}/proc/7001`, { recursive: true });
    // Until the check, the kept fd goes on reading the namespace it was opened in.
    for (let i = 1; i < NET_CHECK_EVERY; i++) expect(r.read().netPid).toBe(7001);
    expect(r.read()).toMatchObject({ netPid: 7002, netRxBytes: 7000n, netTxBytes: 8000n });
    r.close();
  });

  it("reads the pod's namespace, not the host's, when an exec's runc init is listed first", async () => {
    const dir = await tempCopy('v2-cgroupfs-crio');
    await rm(`${dir}/proc/7001`, { recursive: true });
    // 6999 joined the container's cgroup but not yet its namespaces: it shows the host's.
    await writeProcess(dir, 6999, 'net:[4026531840]', 11_000_000_000, 60_000_000);
    await writeProcess(dir, 7001, 'net:[4026532555]', 5000, 6000);
    await writeFile(`${dir}/${CRIO_CONTAINER}/cgroup.procs`, '6999\n7001\n');
    const r = await reader(dir);
    expect(r.read()).toMatchObject({ netPid: 7001, netNs: 'net:[4026532555]', netRxBytes: 5000n });
    r.close();
  });

  it('drops a kept PID that was recycled into another namespace, at its next check', async () => {
    const dir = await tempCopy('v2-cgroupfs-crio');
    const r = await reader(dir, 1);
    expect(r.read().netPid).toBe(7001);
    await addProcess(dir);
    await unlink(`${dir}/proc/7001/ns/net`);
    await symlink('net:[4026539999]', `${dir}/proc/7001/ns/net`);
    expect(r.read()).toMatchObject({ netPid: 7002, netNs: 'net:[4026532555]', netRxBytes: 7000n });
    r.close();
  });

  it('never reads a recycled PID’s /proc entry between checks', async () => {
    const dir = await tempCopy('v2-cgroupfs-crio');
    const r = await reader(dir);
    expect(r.read()).toMatchObject({ netPid: 7001, netRxBytes: 5000n });
    // PID 7001 is now another process, in another namespace, with other counters.
    await rm(`${dir}/proc/7001`, { recursive: true });
    await writeProcess(dir, 7001, 'net:[4026539999]', 999_999, 999_999);
    for (let i = 1; i < NET_CHECK_EVERY; i++) {
      expect(r.read()).toMatchObject({ netNs: 'net:[4026532555]', netRxBytes: 5000n });
    }
    expect(r.read()).toMatchObject({ netPid: null, netSkipped: 'no-process' });
    r.close();
  });
});

describe('readPodCounters on bad input never throws', () => {
  const BURSTABLE_V2 =
    'sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod2c9f8a79_5391_454b_88cb_86190881cb96.slice';
  const UID_V2 = '2c9f8a79-5391-454b-88cb-86190881cb96';

  it('garbage in one file costs only that resource', async () => {
    const dir = await tempCopy('v2-systemd-containerd');
    await writeFile(`${dir}/${BURSTABLE_V2}/cpu.stat`, 'usage_usec 12abc\n');
    await writeFile(`${dir}/${BURSTABLE_V2}/io.stat`, '\u0000\u0001\u0002');
    const f = await load(dir);
    const { counters, errors } = await f.read(pod(f, UID_V2));
    expect(counters.cpuNs).toBeNull();
    expect(counters.ioReadBytes).toBeNull();
    expect(counters.memoryWorkingSetBytes).toBe(48648192n - 159744n);
    expect(counters.netRxBytes).toBe(1234567890123n);
    expect(errors.map((e) => [e.resource, e.code, path.basename(e.path)]).sort()).toEqual([
      ['cpu', 'parse', 'cpu.stat'],
      ['io', 'parse', 'io.stat'],
    ]);
  });

  it('a memory.stat without inactive_file is a parse error', async () => {
    const dir = await tempCopy('v2-systemd-containerd');
    await writeFile(`${dir}/${BURSTABLE_V2}/memory.stat`, 'anon 1\n');
    const f = await load(dir);
    const { counters, errors } = await f.read(pod(f, UID_V2));
    expect(counters.memoryWorkingSetBytes).toBeNull();
    expect(counters.memoryRssBytes).toBeNull();
    expect(errors.map((e) => [e.resource, e.code])).toEqual([['memory', 'parse']]);
    expect(errors[0]?.cause).toMatchObject({ reason: 'missing key inactive_file' });
  });

  it('garbage net/dev is a net error', async () => {
    const dir = await tempCopy('v2-systemd-containerd');
    await writeFile(`${dir}/proc/4241/net/dev`, 'garbage\n');
    const f = await load(dir);
    const { counters, errors } = await f.read(pod(f, UID_V2));
    expect(counters.netRxBytes).toBeNull();
    expect(errors.map((e) => [e.resource, e.code])).toEqual([['net', 'parse']]);
  });

  it('a missing v1 controller is reported per resource', async () => {
    const f = await load(FIXTURES + 'v1-cgroupfs-containerd');
    const v1 = { ...f.layout.v1 };
    delete v1.blkio;
    const { counters, errors } = await f.read(f.pods[0] as PodCgroup, { mode: 'v1', v1 });
    expect(counters.ioReadBytes).toBeNull();
    expect(counters.cpuNs).toBe(107292866812141n);
    expect(errors.map((e) => [e.resource, e.code, e.path])).toEqual([['io', 'missing', 'blkio']]);
  });

  it('a missing cgroup2 mount is reported, not thrown', async () => {
    const f = await load(FIXTURES + 'v2-systemd-containerd');
    const { counters, errors } = await f.read(pod(f, UID_V2), { mode: 'v1', v1: {} });
    expect(counters).toMatchObject({ cpuNs: null, memoryWorkingSetBytes: null, ioReadBytes: null });
    expect(errors.map((e) => [e.resource, e.code])).toEqual([
      ['cpu', 'missing'],
      ['memory', 'missing'],
      ['io', 'missing'],
    ]);
  });

  it('a pod directory that became a file (unreadable directory)', async () => {
    const dir = await tempCopy('v2-systemd-containerd');
    const f = await load(dir);
    const p = pod(f, UID_V2);
    await rm(`${dir}/${BURSTABLE_V2}`, { recursive: true });
    await writeFile(`${dir}/${BURSTABLE_V2}`, 'not a directory');
    const { counters, errors } = await f.read(p);
    expect(counters).toMatchObject({ cpuNs: null, memoryWorkingSetBytes: null, identity: null });
    expect(new Set(errors.map((e) => e.code))).toEqual(new Set(['not-a-directory']));
    expect(new Set(errors.map((e) => e.resource))).toEqual(
      new Set(['cpu', 'memory', 'io', 'identity', 'pids']),
    );
  });

  it('a pod removed since discovery reads as missing', async () => {
    const dir = await tempCopy('v1-cgroupfs-containerd');
    const f = await load(dir);
    await rm(`${dir}/sys/fs/cgroup/memory/kubepods`, { recursive: true });
    const { counters, errors } = await f.read(f.pods[0] as PodCgroup);
    expect(counters.memoryWorkingSetBytes).toBeNull();
    expect(counters.cpuNs).toBe(107292866812141n);
    expect(counters.identity).toBeNull();
    expect(errors.map((e) => [e.resource, e.code]).sort()).toEqual([
      ['identity', 'missing'],
      ['memory', 'missing'],
    ]);
  });

  it('maps permission errors to "unreadable" (root cannot be denied by chmod, so by errno)', () => {
    const eacces = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    expect(classifyError(eacces)).toBe('unreadable');
    expect(classifyError(Object.assign(new Error('x'), { code: 'EIO' }))).toBe('io');
  });
});
