import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createPodLister,
  discoverPods,
  findKubepodsRoots,
  isKubepodsRootName,
} from './kubepods.ts';
import { detectLayout } from './layout.ts';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/cgroup/', import.meta.url));
// Fixture container ids are sha256 of a label, so tests can name them.
const hexid = (seed: string): string => createHash('sha256').update(seed).digest('hex');

const discover = async (name: string) =>
  discoverPods(
    await detectLayout({
      mountinfoPath: `${FIXTURES}${name}/proc/1/mountinfo`,
      hostRoot: FIXTURES + name,
    }),
  );

const temps: string[] = [];
afterEach(async () => {
  await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('isKubepodsRootName', () => {
  it.each(['kubepods', 'kubepods.slice', 'kubelet-kubepods.slice'])('accepts %s', (n) =>
    expect(isKubepodsRootName(n)).toBe(true),
  );
  it.each(['kubepods-burstable.slice', 'kubepods-podx.slice', 'burstable', 'kubelet.slice'])(
    'rejects %s',
    (n) => expect(isKubepodsRootName(n)).toBe(false),
  );
});

describe('discoverPods', () => {
  it('v2 systemd containerd: every QoS class and a static pod', async () => {
    const d = await discover('v2-systemd-containerd');
    expect(d.hierarchy).toBe('v2');
    expect(d.roots).toEqual(['kubepods.slice']);
    expect(d.errors).toEqual([]);
    const byUid = new Map(d.pods.map((p) => [p.uid, p]));
    expect([...byUid.keys()].sort()).toEqual([
      '2c9f8a79-5391-454b-88cb-86190881cb96',
      '7922aa99-d4aa-4885-a953-82976860b23a',
      'd0f3a6b8e7c9a1b2c3d4e5f60718293a',
      'dbdd9718-6f63-40ef-987e-34776599d7d6',
    ]);
    const burstable = byUid.get('2c9f8a79-5391-454b-88cb-86190881cb96');
    expect(burstable).toMatchObject({
      qos: 'Burstable',
      driver: 'systemd',
      hierarchy: 'v2',
      relPath:
        'kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod2c9f8a79_5391_454b_88cb_86190881cb96.slice',
    });
    expect(burstable?.containers.map((c) => c.id).sort()).toEqual(
      [hexid('app-b'), hexid('pause-b')].sort(),
    );
    expect(
      burstable?.containers.every((c) => c.runtime === 'containerd' && c.kind === 'container'),
    ).toBe(true);
    expect(byUid.get('7922aa99-d4aa-4885-a953-82976860b23a')?.qos).toBe('Guaranteed');
    expect(byUid.get('dbdd9718-6f63-40ef-987e-34776599d7d6')?.qos).toBe('BestEffort');
    expect(byUid.get('d0f3a6b8e7c9a1b2c3d4e5f60718293a')?.qos).toBe('Burstable');
  });

  it('v2 cgroupfs CRI-O: dashed UIDs, crio-<id> and conmon', async () => {
    const d = await discover('v2-cgroupfs-crio');
    expect(d.roots).toEqual(['kubepods']);
    const pod = d.pods.find((p) => p.uid === '5a89bcaa-3509-4375-83e1-b9e7a5712123');
    expect(pod).toMatchObject({ qos: 'Burstable', driver: 'cgroupfs' });
    expect(pod?.relPath).toBe('kubepods/burstable/pod5a89bcaa-3509-4375-83e1-b9e7a5712123');
    expect(pod?.containers).toContainEqual({
      kind: 'container',
      id: hexid('crio-app'),
      runtime: 'crio',
      relPath: `${pod?.relPath}/crio-${hexid('crio-app')}`,
    });
    expect(pod?.containers).toContainEqual({
      kind: 'conmon',
      runtime: 'crio',
      relPath: `${pod?.relPath}/crio-conmon-${hexid('crio-app')}`,
    });
    expect(d.pods.map((p) => [p.uid, p.qos]).sort()).toEqual([
      ['51b64565-2b17-4d46-83ac-22e398f2f7fb', 'Guaranteed'],
      ['5a89bcaa-3509-4375-83e1-b9e7a5712123', 'Burstable'],
      ['f6adb0af-0855-4bab-b25b-c853f18d0ce2', 'BestEffort'],
    ]);
  });

  it('v1 cgroupfs containerd: bare ids without a runtime', async () => {
    const d = await discover('v1-cgroupfs-containerd');
    expect(d.hierarchy).toBe('v1');
    expect(d.hierarchyRoot).toBe(`${FIXTURES}v1-cgroupfs-containerd/sys/fs/cgroup/cpu,cpuacct`);
    expect(d.pods).toHaveLength(1);
    expect(d.pods[0]?.containers.map((c) => [c.kind, c.runtime]).sort()).toEqual([
      ['container', undefined],
      ['container', undefined],
    ]);
  });

  it('hybrid: prefers v1 when the v1 controllers hold kubepods', async () => {
    const d = await discover('hybrid-systemd-crio');
    expect(d.hierarchy).toBe('v1');
    expect(d.pods.map((p) => [p.uid, p.qos, p.driver])).toEqual([
      ['d0511cd2-29d2-4215-be0f-f77bc0609d99', 'BestEffort', 'systemd'],
    ]);
  });

  it('hybrid: falls back to v2 when v1 has no kubepods tree', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'am-cgroup-'));
    temps.push(dir);
    await cp(`${FIXTURES}hybrid-systemd-crio`, dir, { recursive: true, verbatimSymlinks: true });
    for (const c of ['cpu', 'cpuacct', 'memory', 'blkio', 'pids']) {
      await rm(`${dir}/sys/fs/cgroup/${c}/kubepods.slice`, { recursive: true });
    }
    await cp(
      `${FIXTURES}v2-cgroupfs-crio/sys/fs/cgroup/kubepods`,
      `${dir}/sys/fs/cgroup/unified/kubepods`,
      { recursive: true },
    );
    const d = await discoverPods(
      await detectLayout({ mountinfoPath: `${dir}/proc/1/mountinfo`, hostRoot: dir }),
    );
    expect(d.hierarchy).toBe('v2');
    expect(d.pods).toHaveLength(3);
  });

  it('kind inside Docker: finds kubelet-kubepods.slice under an arbitrary prefix', async () => {
    const d = await discover('v2-kind-nested');
    expect(d.roots).toEqual([
      `system.slice/docker-${hexid('kind-node')}.scope/kubelet.slice/kubelet-kubepods.slice`,
    ]);
    expect(d.pods.map((p) => [p.uid, p.qos]).sort()).toEqual([
      ['00000000000000000000000000000000', 'Guaranteed'],
      ['3cae2e45-052c-4b11-80d3-4d7b2d2d3464', 'Burstable'],
    ]);
  });

  it('respects the depth bound', async () => {
    const root = `${FIXTURES}v2-kind-nested/sys/fs/cgroup`;
    expect((await findKubepodsRoots(root, { maxDepth: 3 })).roots).toEqual([]);
  });

  it('reports an unreadable hierarchy root as an error, not an exception', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'am-cgroup-'));
    temps.push(dir);
    // A file where a directory is expected: as root, chmod 000 would not stop readdir.
    await writeFile(`${dir}/notadir`, 'x');
    const found = await findKubepodsRoots(`${dir}/notadir`);
    expect(found.roots).toEqual([]);
    expect(found.errors.map((e) => [e.resource, e.code])).toEqual([
      ['discovery', 'not-a-directory'],
    ]);
    const missing = await findKubepodsRoots(`${dir}/absent`);
    expect(missing.errors.map((e) => e.code)).toEqual(['missing']);
  });
});

describe('createPodLister', () => {
  it('sees pods come and go every tick, re-lists containers every N ticks', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'am-lister-'));
    temps.push(root);
    const podA = 'kubepods/burstable/pod0b1e5c3e-2f44-4a59-9a8e-6c0f6a4d9a11';
    const podB = 'kubepods/pod1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f';
    await mkdir(path.join(root, podA, hexid('a1')), { recursive: true });
    const lister = createPodLister(root, ['kubepods'], 'v1', { containerRescanTicks: 3 });
    const containers = () =>
      lister.list().pods.map((p) => [p.relPath, p.containers.map((c) => c.id).sort()]);

    expect(containers()).toEqual([[podA, [hexid('a1')]]]);
    await mkdir(path.join(root, podB, hexid('b1')), { recursive: true });
    // A new pod is listed with its containers at once.
    expect(containers()).toContainEqual([podB, [hexid('b1')]]);
    // A known pod's new container shows at the latest after containerRescanTicks ticks.
    await mkdir(path.join(root, podA, hexid('a2')));
    const ticksUntilSeen = [1, 2, 3, 4].find(() =>
      containers().some(([rel, ids]) => rel === podA && ids?.length === 2),
    );
    expect(ticksUntilSeen).toBeDefined();
    expect(ticksUntilSeen).toBeLessThanOrEqual(3);
    // Just re-listed, so the next container waits for the next rescan.
    await mkdir(path.join(root, podA, hexid('a3')));
    expect(containers()).toContainEqual([podA, [hexid('a1'), hexid('a2')].sort()]);

    await rm(path.join(root, podB), { recursive: true });
    expect(containers().map(([rel]) => rel)).toEqual([podA]);
  });
});
