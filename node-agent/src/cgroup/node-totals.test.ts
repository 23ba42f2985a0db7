import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BlockDevices } from './devices.ts';
import { detectLayout } from './layout.ts';
import { readNodeTotals } from './node-totals.ts';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/cgroup/', import.meta.url));

async function totals(name: string, hierarchy: 'v1' | 'v2') {
  const root = FIXTURES + name;
  const layout = await detectLayout({ mountinfoPath: `${root}/proc/1/mountinfo`, hostRoot: root });
  return readNodeTotals(layout, hierarchy, {
    procRoot: `${root}/proc`,
    devices: new BlockDevices({ sysRoot: `${root}/sys` }),
  });
}

describe('readNodeTotals', () => {
  it('v2: root cpu.stat, meminfo, root io.stat without stacked or loop devices', async () => {
    const { counters, errors } = await totals('v2-systemd-containerd', 'v2');
    expect(errors).toEqual([]);
    expect(counters).toEqual({
      cpuNs: 98765432101000n,
      memoryWorkingSetBytes: (8133424n - 512340n - 3888600n) * 1024n,
      memoryRssBytes: 2479052n * 1024n,
      ioReadBytes: 6911345664n,
      ioWriteBytes: 4455391232n,
    });
  });

  it('v1: root cpuacct.usage, memory and blkio', async () => {
    const { counters, errors } = await totals('v1-cgroupfs-containerd', 'v1');
    expect(errors).toEqual([]);
    expect(counters).toEqual({
      cpuNs: 557324510188000n,
      memoryWorkingSetBytes: 4684959232n - 2294123008n,
      memoryRssBytes: 1376665600n,
      ioReadBytes: 10238894080n,
      ioWriteBytes: 655360000n + 1310720000n,
    });
  });

  it('hybrid: u64 max CPU counter stays exact', async () => {
    const { counters } = await totals('hybrid-systemd-crio', 'v1');
    expect(counters.cpuNs).toBe(18446744073709551615n);
  });

  it('reports missing files as errors', async () => {
    // The cgroupfs CRI-O fixture has no meminfo and no root io.stat.
    const { counters, errors } = await totals('v2-cgroupfs-crio', 'v2');
    expect(counters.cpuNs).toBe(1234567890000n);
    expect(counters.memoryWorkingSetBytes).toBeNull();
    expect(errors.map((e) => [e.resource, e.code]).sort()).toEqual([
      ['io', 'missing'],
      ['memory', 'missing'],
    ]);
  });
});
