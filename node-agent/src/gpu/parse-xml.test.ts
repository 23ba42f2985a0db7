import { describe, expect, it } from 'vitest';
import { GpuParseError } from './errors.ts';
import { parseNvidiaSmiXml } from './parse-xml.ts';
import { scenarioText } from './test-helpers.ts';

describe('parseNvidiaSmiXml', () => {
  it('reads a T4 (driver 515, DTD v11) with one process', () => {
    const log = parseNvidiaSmiXml(scenarioText('t4-single', 'q.xml', { podA: 5762 }));
    expect(log.driverVersion).toBe('515.105.01');
    expect(log.gpus).toEqual([
      {
        uuid: 'GPU-5e2b7f0c-3d1a-4c8e-9b6f-2a7d4e1c8b93',
        productName: 'Tesla T4',
        minorNumber: 0,
        utilGpuPct: 35,
        utilMemoryPct: 12,
        migMode: null,
        migDevices: [],
        processes: [
          {
            gpuInstanceId: null,
            computeInstanceId: null,
            pid: 5762,
            type: 'C',
            name: 'python3',
            usedMemoryMiB: 1005n,
          },
        ],
      },
    ]);
  });

  it('reads an A100 with MIG (driver 535, DTD v12): instances and per-instance processes', () => {
    const [gpu] = parseNvidiaSmiXml(
      scenarioText('a100-mig-2gi', 'q.xml', { podA: 100, podB: 200 }),
    ).gpus;
    expect(gpu?.migMode).toBe('Enabled');
    expect(gpu?.utilGpuPct).toBeNull();
    expect(gpu?.migDevices).toEqual([
      {
        index: 0,
        gpuInstanceId: 1,
        computeInstanceId: 0,
        uuid: null,
        memoryUsedMiB: 1593n,
        memoryTotalMiB: 19968n,
      },
      {
        index: 1,
        gpuInstanceId: 2,
        computeInstanceId: 0,
        uuid: null,
        memoryUsedMiB: 1536n,
        memoryTotalMiB: 19968n,
      },
    ]);
    expect(gpu?.processes.map((p) => [p.pid, p.gpuInstanceId, p.usedMemoryMiB])).toEqual([
      [100, 1, 1556n],
      [200, 2, 1499n],
    ]);
  });

  it('reads eight GPUs as an array and an empty <processes> as none', () => {
    const pids = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`p${i}`, 1000 + i]));
    const log = parseNvidiaSmiXml(scenarioText('8x-a100', 'q.xml', pids));
    expect(log.gpus).toHaveLength(8);
    expect(log.gpus.flatMap((g) => g.processes)).toHaveLength(64);
    const idle = scenarioText('t4-single', 'q.xml', { podA: 1 }).replace(
      /<processes>[\s\S]*<\/processes>/,
      '<processes />',
    );
    expect(parseNvidiaSmiXml(idle).gpus[0]?.processes).toEqual([]);
  });

  it('rejects the garbage-xml scenario with a typed error and a line', () => {
    const err = (() => {
      try {
        parseNvidiaSmiXml(scenarioText('garbage-xml', 'q.xml'));
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(GpuParseError);
    expect((err as GpuParseError).format).toBe('xml');
  });

  it.each([
    ['empty output', ''],
    ['plain text', "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."],
    ['another root', '<?xml version="1.0" ?><html><body/></html>'],
    [
      'a GPU without uuid',
      '<nvidia_smi_log><gpu><product_name>X</product_name></gpu></nvidia_smi_log>',
    ],
    [
      'a float percentage',
      '<nvidia_smi_log><gpu><product_name>X</product_name><uuid>GPU-1</uuid><utilization><gpu_util>3.5 %</gpu_util></utilization></gpu></nvidia_smi_log>',
    ],
  ])('rejects %s', (_what, xml) => {
    expect(() => parseNvidiaSmiXml(xml)).toThrow(GpuParseError);
  });

  it('does not expand DOCTYPE entities (billion laughs)', () => {
    const xml = `<?xml version="1.0"?>
<!DOCTYPE nvidia_smi_log [
  <!ENTITY a "aaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
]>
<nvidia_smi_log><driver_version>&b;</driver_version>
<gpu><product_name>&b;</product_name><uuid>GPU-1</uuid></gpu></nvidia_smi_log>`;
    const log = parseNvidiaSmiXml(xml);
    expect(log.driverVersion).toBe('&b;');
    expect(log.gpus[0]?.productName).toBe('&b;');
  });

  it('refuses external entities with a typed error', () => {
    const xml = `<?xml version="1.0"?>
<!DOCTYPE nvidia_smi_log [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<nvidia_smi_log><driver_version>&xxe;</driver_version></nvidia_smi_log>`;
    expect(() => parseNvidiaSmiXml(xml)).toThrow(GpuParseError);
  });

  it('refuses prototype-polluting tag names with a typed error', () => {
    const xml =
      '<nvidia_smi_log><__proto__><polluted>yes</polluted></__proto__><gpu><product_name>X</product_name><uuid>GPU-1</uuid></gpu></nvidia_smi_log>';
    expect(() => parseNvidiaSmiXml(xml)).toThrow(GpuParseError);
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    const ctor =
      '<nvidia_smi_log><gpu><product_name>X</product_name><uuid>GPU-1</uuid><constructor><prototype><polluted>yes</polluted></prototype></constructor></gpu></nvidia_smi_log>';
    try {
      parseNvidiaSmiXml(ctor);
    } catch (err) {
      expect(err).toBeInstanceOf(GpuParseError);
    }
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
  });
});
