import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { GpuAllocation, GpuProcessSample, GpuTickResult } from './attribute.ts';
import { attributeGpuTick } from './attribute.ts';
import type { GpuDevice } from './inventory.ts';
import { buildInventory, deviceKeysFor } from './inventory.ts';
import { parseList, parseQueryComputeApps, parseQueryGpu } from './parse-csv.ts';
import { parseNvidiaSmiXml } from './parse-xml.ts';
import { parseDeviceId } from './pod-resources.ts';
import { scenarioText } from './test-helpers.ts';

const DT = 10_000_000n; // a 10 s tick in µs

function gpu(key: string, utilPct: number | null, model = 'Tesla T4'): GpuDevice {
  return {
    key,
    gpuUuid: key,
    model,
    minor: 0,
    gi: null,
    migUuids: [],
    utilPpm: utilPct === null ? null : BigInt(utilPct) * 10_000n,
  };
}

function proc(
  pid: number,
  deviceKey: string,
  podUid: string | null,
  smPct: number | null,
  mem: bigint | null = null,
): GpuProcessSample {
  return { pid, deviceKey, podUid, smPct, usedMemoryMiB: mem };
}

/** Σ pods + unattributed = device total, per device, for both numbers. */
function expectConserved(r: GpuTickResult): void {
  for (const d of r.devices) {
    const pods = r.pods.filter((p) => p.key === d.key);
    const rest = r.unattributed.find((u) => u.key === d.key);
    const alloc = pods.reduce((s, p) => s + p.allocatedUs, 0n) + (rest?.allocatedUs ?? 0n);
    const active = pods.reduce((s, p) => s + p.activeUs, 0n) + (rest?.activeUs ?? 0n);
    expect(alloc).toBe(d.allocatedUs);
    expect(active).toBe(d.activeUs);
    expect(d.allocatedUs).toBe(r.deltaUs);
  }
}

describe('attributeGpuTick', () => {
  it('one pod holding two whole GPUs gets both, each at its own utilisation', () => {
    const r = attributeGpuTick({
      deltaUs: DT,
      devices: [gpu('GPU-a', 80, 'NVIDIA A10G'), gpu('GPU-b', 20, 'NVIDIA A10G')],
      allocations: [
        { podUid: 'pod-1', deviceKey: 'GPU-a', replica: false },
        { podUid: 'pod-1', deviceKey: 'GPU-b', replica: false },
      ],
      processes: [proc(1, 'GPU-a', 'pod-1', 78), proc(2, 'GPU-b', 'pod-1', 19)],
    });
    expect(r.pods).toEqual([
      {
        podUid: 'pod-1',
        key: 'GPU-a',
        model: 'NVIDIA A10G',
        allocatedUs: DT,
        activeUs: 8_000_000n,
      },
      {
        podUid: 'pod-1',
        key: 'GPU-b',
        model: 'NVIDIA A10G',
        allocatedUs: DT,
        activeUs: 2_000_000n,
      },
    ]);
    expect(r.devices.map((d) => d.sharing)).toEqual(['exclusive', 'exclusive']);
    expect(r.unattributed).toEqual([]);
  });

  it('three pods time-slicing one GPU split allocation equally and activity by SM share', () => {
    const r = attributeGpuTick({
      deltaUs: DT,
      devices: [gpu('GPU-t', 90)],
      allocations: ['a', 'b', 'c'].map((p) => ({ podUid: p, deviceKey: 'GPU-t', replica: true })),
      processes: [proc(1, 'GPU-t', 'a', 50), proc(2, 'GPU-t', 'b', 20), proc(3, 'GPU-t', 'c', 10)],
    });
    // 9 s active split 50:20:10; 10 s allocated split 3 ways with the leftover µs to the lowest key.
    expect(r.pods.map((p) => [p.podUid, p.allocatedUs, p.activeUs])).toEqual([
      ['a', 3_333_334n, 5_625_000n],
      ['b', 3_333_333n, 2_250_000n],
      ['c', 3_333_333n, 1_125_000n],
    ]);
    expect(r.devices[0]?.sharing).toBe('timesliced');
    expectConserved(r);
  });

  it('falls back to memory share, then to an equal split per pod', () => {
    const base = { deltaUs: DT, devices: [gpu('GPU-t', 50)], allocations: [] as GpuAllocation[] };
    const mem = attributeGpuTick({
      ...base,
      processes: [proc(1, 'GPU-t', 'a', 0, 3000n), proc(2, 'GPU-t', 'b', 0, 1000n)],
    });
    expect(mem.pods.map((p) => p.activeUs)).toEqual([3_750_000n, 1_250_000n]);
    const equal = attributeGpuTick({
      ...base,
      processes: [
        proc(1, 'GPU-t', 'a', null),
        proc(2, 'GPU-t', 'a', null),
        proc(3, 'GPU-t', 'b', null),
      ],
    });
    expect(equal.pods.map((p) => p.activeUs)).toEqual([2_500_000n, 2_500_000n]);
  });

  it('keeps the share of a process outside any pod in unattributed, never copying the device value', () => {
    const r = attributeGpuTick({
      deltaUs: DT,
      devices: [gpu('GPU-t', 100)],
      allocations: [{ podUid: 'a', deviceKey: 'GPU-t', replica: false }],
      processes: [proc(1, 'GPU-t', 'a', 30), proc(2, 'GPU-t', null, 10)],
    });
    expect(r.pods).toEqual([
      { podUid: 'a', key: 'GPU-t', model: 'Tesla T4', allocatedUs: DT, activeUs: 7_500_000n },
    ]);
    expect(r.unattributed).toEqual([
      { key: 'GPU-t', model: 'Tesla T4', allocatedUs: 0n, activeUs: 2_500_000n },
    ]);
  });

  it('puts an unheld, idle GPU entirely in unattributed', () => {
    const r = attributeGpuTick({
      deltaUs: DT,
      devices: [gpu('GPU-x', 0)],
      allocations: [],
      processes: [],
    });
    expect(r.devices[0]).toMatchObject({ sharing: 'unallocated', activeUs: 0n });
    expect(r.unattributed).toEqual([
      { key: 'GPU-x', model: 'Tesla T4', allocatedUs: DT, activeUs: 0n },
    ]);
  });

  it('meters MIG instances separately, keyed by GPU instance, with the profile in the model', () => {
    const pids = { podA: 100, podB: 200 };
    const inv = buildInventory({
      gpus: parseQueryGpu(scenarioText('a100-mig-2gi', 'query-gpu.csv')),
      apps: parseQueryComputeApps(scenarioText('a100-mig-2gi', 'query-compute-apps.csv', pids)),
      pmon: null,
      xml: parseNvidiaSmiXml(scenarioText('a100-mig-2gi', 'q.xml', pids)),
      list: parseList(scenarioText('a100-mig-2gi', 'list.txt')),
    });
    const U = 'GPU-8c0e4a4d-61b2-4f6a-b1f3-5d7c2e9a0b14';
    expect(inv.devices.map((d) => [d.key, d.model])).toEqual([
      [`${U}/gi1`, 'NVIDIA A100-SXM4-40GB MIG 3g.20gb'],
      [`${U}/gi2`, 'NVIDIA A100-SXM4-40GB MIG 3g.20gb'],
    ]);
    expect(
      deviceKeysFor(parseDeviceId('MIG-b27e8d40-6c13-5f2a-8d91-0e4f5a6b7c8d'), inv.devices),
    ).toEqual([`${U}/gi2`]);
    expect(deviceKeysFor(parseDeviceId(`MIG-${U}/1/0`), inv.devices)).toEqual([`${U}/gi1`]);
    expect(deviceKeysFor(parseDeviceId('nvidia0/gi2'), inv.devices)).toEqual([`${U}/gi2`]);

    const r = attributeGpuTick({
      deltaUs: DT,
      devices: inv.devices,
      allocations: [
        { podUid: 'a', deviceKey: `${U}/gi1`, replica: false },
        { podUid: 'b', deviceKey: `${U}/gi2`, replica: false },
      ],
      processes: inv.processes.map((p) => ({ ...p, podUid: p.pid === 100 ? 'a' : 'b' })),
      dcgmPpm: new Map([[`${U}/gi1`, 650_000n]]),
    });
    expect(r.devices.map((d) => [d.sharing, d.activeSource, d.activeUs])).toEqual([
      ['mig', 'dcgm', 6_500_000n],
      ['mig', 'process-presence', DT],
    ]);
    expect(r.pods.map((p) => [p.podUid, p.key, p.allocatedUs, p.activeUs])).toEqual([
      ['a', `${U}/gi1`, DT, 6_500_000n],
      ['b', `${U}/gi2`, DT, DT],
    ]);
    expectConserved(r);
  });

  it('rejects a DCGM zero while processes run and uses nvidia-smi instead', () => {
    const r = attributeGpuTick({
      deltaUs: DT,
      devices: [gpu('GPU-a', 40)],
      allocations: [{ podUid: 'a', deviceKey: 'GPU-a', replica: false }],
      processes: [proc(1, 'GPU-a', 'a', 40)],
      dcgmPpm: new Map([['GPU-a', 0n]]),
    });
    expect(r.devices[0]).toMatchObject({
      activeSource: 'nvidia-smi',
      dcgmRejected: true,
      activeUs: 4_000_000n,
    });
  });

  it('conserves every device total exactly for any input', () => {
    const keys = ['GPU-0', 'GPU-1', 'GPU-2'];
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 12n }),
        fc.array(fc.option(fc.integer({ min: 0, max: 100 })), { minLength: 3, maxLength: 3 }),
        fc.array(
          fc.record({
            pod: fc.constantFrom('a', 'b', 'c', 'd'),
            dev: fc.constantFrom(...keys),
            replica: fc.boolean(),
          }),
          { maxLength: 8 },
        ),
        fc.array(
          fc.record({
            pod: fc.option(fc.constantFrom('a', 'b', 'e')),
            dev: fc.constantFrom(...keys),
            sm: fc.option(fc.integer({ min: 0, max: 100 })),
            mem: fc.option(fc.bigInt({ min: 0n, max: 80_000n })),
          }),
          { maxLength: 12 },
        ),
        (deltaUs, utils, allocs, procs) => {
          const r = attributeGpuTick({
            deltaUs,
            devices: keys.map((k, i) => gpu(k, utils[i] ?? null)),
            allocations: allocs.map((a) => ({
              podUid: a.pod,
              deviceKey: a.dev,
              replica: a.replica,
            })),
            processes: procs.map((p, i) => proc(i + 1, p.dev, p.pod, p.sm, p.mem)),
          });
          expectConserved(r);
          for (const p of r.pods) expect(p.allocatedUs >= 0n && p.activeUs >= 0n).toBe(true);
        },
      ),
    );
  });
});
