import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CgroupLayoutError } from './errors.ts';
import { detectLayout, parseCgroupMounts } from './layout.ts';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/cgroup/', import.meta.url));

const layoutOf = (name: string) =>
  detectLayout({ mountinfoPath: `${FIXTURES}${name}/proc/1/mountinfo`, hostRoot: FIXTURES + name });

describe('detectLayout', () => {
  it('detects pure v2', async () => {
    expect(await layoutOf('v2-systemd-containerd')).toEqual({
      mode: 'v2',
      v2Root: `${FIXTURES}v2-systemd-containerd/sys/fs/cgroup`,
      v1: {},
    });
  });

  it('detects v1 with co-mounted cpu,cpuacct', async () => {
    const root = `${FIXTURES}v1-cgroupfs-containerd/sys/fs/cgroup`;
    expect(await layoutOf('v1-cgroupfs-containerd')).toEqual({
      mode: 'v1',
      v1: {
        cpu: `${root}/cpu,cpuacct`,
        cpuacct: `${root}/cpu,cpuacct`,
        memory: `${root}/memory`,
        blkio: `${root}/blkio`,
        pids: `${root}/pids`,
      },
    });
  });

  it('detects hybrid with separate cpu and cpuacct mounts', async () => {
    const root = `${FIXTURES}hybrid-systemd-crio/sys/fs/cgroup`;
    expect(await layoutOf('hybrid-systemd-crio')).toEqual({
      mode: 'hybrid',
      v2Root: `${root}/unified`,
      v1: {
        cpu: `${root}/cpu`,
        cpuacct: `${root}/cpuacct`,
        memory: `${root}/memory`,
        blkio: `${root}/blkio`,
        pids: `${root}/pids`,
      },
    });
  });

  it('prefers the whole-hierarchy mount over a bind mount of a sub-cgroup', () => {
    const mounts = parseCgroupMounts(
      '50 40 0:29 /kubepods /var/lib/x rw - cgroup cgroup rw,memory\n' +
        '35 31 0:29 / /sys/fs/cgroup/my\\040memory rw shared:3 master:1 - cgroup cgroup rw,memory\n',
      'mountinfo',
    );
    expect(mounts.map((m) => [m.root, m.mountPoint])).toEqual([
      ['/kubepods', '/var/lib/x'],
      ['/', '/sys/fs/cgroup/my memory'],
    ]);
  });

  it('fails with a typed error without cgroup mounts or mountinfo', async () => {
    await expect(layoutOf('proc-stat')).rejects.toBeInstanceOf(CgroupLayoutError);
    await expect(
      detectLayout({
        mountinfoPath: `${FIXTURES}v2-systemd-containerd/proc/meminfo`,
        hostRoot: '/',
      }),
    ).rejects.toThrow(/malformed mountinfo/);
  });

  it('reads this machine', async () => {
    const layout = await detectLayout({ mountinfoPath: '/proc/self/mountinfo', hostRoot: '/' });
    expect(['v1', 'v2', 'hybrid']).toContain(layout.mode);
  });
});
