import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CgroupParseError } from './errors.ts';
import { parseProcCgroup, podFromCgroupPath, readStarttime, resolvePid } from './proc-cgroup.ts';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/cgroup/', import.meta.url));
const id = (c: string): string => c.repeat(64);

describe('podFromCgroupPath (test/fixtures/cgroup)', () => {
  it.each([
    [
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod2c9f8a79_5391_454b_88cb_86190881cb96.slice/crio-${id('a')}.scope`,
      {
        podUid: '2c9f8a79-5391-454b-88cb-86190881cb96',
        qos: 'Burstable',
        containerId: id('a'),
        runtime: 'crio',
      },
    ],
    [
      `/kubepods.slice/kubepods-pod7922aa99_d4aa_4885_a953_82976860b23a.slice/crio-${id('b')}.scope`,
      {
        podUid: '7922aa99-d4aa-4885-a953-82976860b23a',
        qos: 'Guaranteed',
        containerId: id('b'),
        runtime: 'crio',
      },
    ],
    [
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-poddbdd9718_6f63_40ef_987e_34776599d7d6.slice/crio-${id('c')}.scope`,
      {
        podUid: 'dbdd9718-6f63-40ef-987e-34776599d7d6',
        qos: 'BestEffort',
        containerId: id('c'),
        runtime: 'crio',
      },
    ],
    [
      `/kubepods/pod51b64565-2b17-4d46-83ac-22e398f2f7fb/${id('d')}`,
      { podUid: '51b64565-2b17-4d46-83ac-22e398f2f7fb', qos: 'Guaranteed', containerId: id('d') },
    ],
    [
      `/kubepods/burstable/pod5a89bcaa-3509-4375-83e1-b9e7a5712123/${id('e')}`,
      { podUid: '5a89bcaa-3509-4375-83e1-b9e7a5712123', qos: 'Burstable', containerId: id('e') },
    ],
    [
      `/kubepods/besteffort/podf6adb0af-0855-4bab-b25b-c853f18d0ce2/crio-${id('f')}`,
      {
        podUid: 'f6adb0af-0855-4bab-b25b-c853f18d0ce2',
        qos: 'BestEffort',
        containerId: id('f'),
        runtime: 'crio',
      },
    ],
    [
      `/system.slice/containerd.service/kubepods-besteffort-pod0043435f_1854_4327_b76b_730f681a781d.slice:cri-containerd:${id('1')}`,
      {
        podUid: '0043435f-1854-4327-b76b-730f681a781d',
        qos: 'BestEffort',
        containerId: id('1'),
        runtime: 'containerd',
      },
    ],
    [
      `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod3cae2e45_052c_4b11_80d3_4d7b2d2d3464.slice/cri-containerd-${id('2')}.scope`,
      {
        podUid: '3cae2e45-052c-4b11-80d3-4d7b2d2d3464',
        qos: 'Burstable',
        containerId: id('2'),
        runtime: 'containerd',
      },
    ],
    [
      `/system.slice/docker-${id('9')}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod3cae2e45_052c_4b11_80d3_4d7b2d2d3464.slice/cri-containerd-${id('3')}.scope`,
      {
        podUid: '3cae2e45-052c-4b11-80d3-4d7b2d2d3464',
        qos: 'Burstable',
        containerId: id('3'),
        runtime: 'containerd',
      },
    ],
    [
      `/../../../kubepods-burstable.slice/kubepods-burstable-podece3579b_3053_4f2d_8a1e_0123456789ab.slice/cri-containerd-${id('4')}.scope`,
      {
        podUid: 'ece3579b-3053-4f2d-8a1e-0123456789ab',
        qos: 'Burstable',
        containerId: id('4'),
        runtime: 'containerd',
      },
    ],
    [
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podd0f3a6b8e7c9a1b2c3d4e5f60718293a.slice/docker-${id('5')}.scope`,
      {
        podUid: 'd0f3a6b8e7c9a1b2c3d4e5f60718293a',
        qos: 'Burstable',
        containerId: id('5'),
        runtime: 'docker',
      },
    ],
    [
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod2c9f8a79_5391_454b_88cb_86190881cb96.slice/crio-conmon-${id('6')}.scope`,
      { podUid: '2c9f8a79-5391-454b-88cb-86190881cb96', qos: 'Burstable' },
    ],
    [
      `/system.slice/docker-${id('7')}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod3cae2e45_052c_4b11_80d3_4d7b2d2d3464.slice`,
      { podUid: '3cae2e45-052c-4b11-80d3-4d7b2d2d3464', qos: 'Guaranteed' },
    ],
  ])('%s', (p, expected) => {
    expect(podFromCgroupPath(p)).toEqual(expected);
  });

  it.each([
    '/',
    '/system.slice/containerd.service',
    `/system.slice/docker-${id('8')}.scope`,
    '/user.slice/podman',
  ])('is null outside pods: %s', (p) => expect(podFromCgroupPath(p)).toBeNull());
});

describe('parseProcCgroup', () => {
  it('splits v1 lines, keeping colons inside the path', () => {
    const lines = parseProcCgroup(
      `13:memory:/system.slice/containerd.service/kubepods-besteffort-pod0043435f_1854_4327_b76b_730f681a781d.slice:cri-containerd:${id('1')}\n` +
        `1:name=systemd:/kubepods.slice\n0::/\n`,
      'cgroup',
    );
    expect(lines.map((l) => [l.hierarchyId, l.controllers])).toEqual([
      [13, ['memory']],
      [1, ['name=systemd']],
      [0, []],
    ]);
    expect(lines[0]?.path.endsWith(`:cri-containerd:${id('1')}`)).toBe(true);
  });

  it('refuses garbage', () => {
    expect(() => parseProcCgroup('hello world\n', 'cgroup')).toThrow(CgroupParseError);
  });
});

describe('resolvePid', () => {
  it('resolves this process (not in a pod) with its starttime', async () => {
    const r = await resolvePid('/proc', process.pid);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.pod).toBeNull();
      expect(r.starttime).toBe(await readStarttime('/proc', process.pid));
      expect(r.starttime).toBeGreaterThan(0n);
    }
  });

  it('returns a typed error for a vanished PID', async () => {
    const r = await resolvePid(`${FIXTURES}v2-systemd-containerd/proc`, 4242);
    expect(r.ok).toBe(false);
    if (!r.ok) expect([r.error.resource, r.error.code]).toEqual(['pids', 'missing']);
  });
});
