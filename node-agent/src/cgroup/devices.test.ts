import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BlockDevices } from './devices.ts';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/cgroup/', import.meta.url));

describe('BlockDevices', () => {
  const devices = new BlockDevices({ sysRoot: `${FIXTURES}v2-systemd-containerd/sys` });

  it('classifies physical, stacked (dm with slaves), loop and unknown devices', async () => {
    expect(await devices.kind('259:0')).toBe('physical');
    expect(await devices.kind('254:1')).toBe('stacked');
    expect(await devices.kind('7:0')).toBe('loop');
    expect(await devices.kind('7:9')).toBe('loop');
    expect(await devices.kind('252:7')).toBe('unknown');
  });

  it('classifies md RAID over two disks as stacked', async () => {
    const md = new BlockDevices({ sysRoot: `${FIXTURES}v1-cgroupfs-containerd/sys` });
    expect(await md.kind('9:1')).toBe('stacked');
    expect(await md.kind('8:0')).toBe('physical');
  });

  it('counts each I/O once: bottom devices and unknown ones, not dm or loop', async () => {
    expect(
      await devices.sum([
        { device: '254:1', readBytes: 6901432320n, writeBytes: 10n },
        { device: '259:0', readBytes: 6911345664n, writeBytes: 10n },
        { device: '7:0', readBytes: 1064960n, writeBytes: 0n },
        { device: '252:7', readBytes: 1n, writeBytes: 1n },
      ]),
    ).toEqual({ readBytes: 6911345665n, writeBytes: 11n });
  });

  it('re-reads sysfs after the cache expires', async () => {
    const fresh = new BlockDevices({ sysRoot: `${FIXTURES}v2-systemd-containerd/sys`, ttlMs: 0 });
    expect(await fresh.kind('254:1')).toBe('stacked');
    expect(await fresh.kind('254:1')).toBe('stacked');
  });

  it('reads this machine without failing', async () => {
    const host = new BlockDevices({ sysRoot: '/sys' });
    expect(['physical', 'stacked', 'loop', 'unknown']).toContain(await host.kind('1:0'));
  });
});
