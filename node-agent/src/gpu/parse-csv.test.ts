import { describe, expect, it } from 'vitest';
import { GpuParseError } from './errors.ts';
import { parseList, parsePmon, parseQueryComputeApps, parseQueryGpu } from './parse-csv.ts';
import { scenarioText } from './test-helpers.ts';

const T4 = 'GPU-5e2b7f0c-3d1a-4c8e-9b6f-2a7d4e1c8b93';

describe('parseQueryGpu', () => {
  it('reads a T4 and an A100 in MIG mode', () => {
    expect(parseQueryGpu(scenarioText('t4-single', 'query-gpu.csv'))).toEqual([
      {
        index: 0,
        uuid: T4,
        name: 'Tesla T4',
        utilGpuPct: 35,
        utilMemoryPct: 12,
        memoryUsedMiB: 1005n,
        memoryTotalMiB: 15360n,
        migMode: null,
      },
    ]);
    const [a100] = parseQueryGpu(scenarioText('a100-mig-2gi', 'query-gpu.csv'));
    expect(a100).toMatchObject({
      name: 'NVIDIA A100-SXM4-40GB',
      utilGpuPct: null,
      migMode: 'Enabled',
    });
  });

  it('reads eight GPUs', () => {
    const gpus = parseQueryGpu(scenarioText('8x-a100', 'query-gpu.csv'));
    expect(gpus.map((g) => g.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(gpus[5]?.utilGpuPct).toBe(100);
  });

  it('treats every unavailable marker as null and empty output as no GPUs', () => {
    const line = `0, ${T4}, Tesla T4, [Not Supported], N/A, [N/A], [Unknown Error], Disabled\r\n`;
    expect(parseQueryGpu(line)[0]).toMatchObject({
      utilGpuPct: null,
      utilMemoryPct: null,
      memoryUsedMiB: null,
      memoryTotalMiB: null,
      migMode: 'Disabled',
    });
    expect(parseQueryGpu('')).toEqual([]);
    expect(parseQueryGpu('\n')).toEqual([]);
  });

  it.each([
    ['too few fields', `0, ${T4}, Tesla T4, 35`],
    [
      'a header row',
      'index, uuid, name, utilization.gpu [%], utilization.memory [%], memory.used [MiB], memory.total [MiB], mig.mode.current',
    ],
    ['units left in', `0, ${T4}, Tesla T4, 35 %, 12 %, 1005 MiB, 15360 MiB, [N/A]`],
    ['over 100%', `0, ${T4}, Tesla T4, 135, 12, 1005, 15360, [N/A]`],
    ['a float', `0, ${T4}, Tesla T4, 35.5, 12, 1005, 15360, [N/A]`],
    ['a bad uuid', `0, 0000:00:1E.0, Tesla T4, 35, 12, 1005, 15360, [N/A]`],
    ['a bad MIG mode', `0, ${T4}, Tesla T4, 35, 12, 1005, 15360, Maybe`],
  ])('rejects %s', (_what, text) => {
    expect(() => parseQueryGpu(text)).toThrow(GpuParseError);
  });
});

describe('parseQueryComputeApps', () => {
  it('reads processes of several pods and N/A memory', () => {
    const apps = parseQueryComputeApps(
      scenarioText('timeslice-3pods', 'query-compute-apps.csv', { podA: 11, podB: 22, podC: 33 }),
    );
    expect(apps).toEqual([
      { gpuUuid: T4, pid: 11, usedMemoryMiB: 4230n },
      { gpuUuid: T4, pid: 22, usedMemoryMiB: 3100n },
      { gpuUuid: T4, pid: 33, usedMemoryMiB: 2530n },
    ]);
    const mig = parseQueryComputeApps(
      scenarioText('a100-mig-2gi', 'query-compute-apps.csv', { podA: 1, podB: 2 }),
    );
    expect(mig.map((a) => a.usedMemoryMiB)).toEqual([null, null]);
  });

  it('reads 64 processes', () => {
    const pids = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`p${i}`, 1000 + i]));
    expect(
      parseQueryComputeApps(scenarioText('8x-a100', 'query-compute-apps.csv', pids)),
    ).toHaveLength(64);
  });

  it('accepts no processes', () => {
    expect(parseQueryComputeApps('')).toEqual([]);
    expect(parseQueryComputeApps('No running processes found\n')).toEqual([]);
  });

  it('rejects garbage', () => {
    expect(() => parseQueryComputeApps(`${T4}, abc, 12`)).toThrow(GpuParseError);
    expect(() => parseQueryComputeApps('<html>')).toThrow(/expected 3 fields/);
  });
});

describe('parsePmon', () => {
  it('reads the 515 layout (with fb) and maps - to 0', () => {
    const text = [
      '# gpu        pid  type    sm   mem   enc   dec    fb   command',
      '# Idx          #   C/G     %     %     %     %    MB   name',
      '    0       5762     C    35     7     -     -  1005   python',
      '    0       5901     C     -     -     -     -   300   my job.py',
      '    1          -     -     -     -     -     -     -   -',
    ].join('\n');
    expect(parsePmon(text)).toEqual([
      { gpuIndex: 0, pid: 5762, type: 'C', smPct: 35, memPct: 7, command: 'python' },
      { gpuIndex: 0, pid: 5901, type: 'C', smPct: 0, memPct: 0, command: 'my job.py' },
    ]);
  });

  it('reads the 535 layout (jpg, ofa, ccpm) of eight GPUs', () => {
    const pids = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`p${i}`, 1000 + i]));
    const rows = parsePmon(scenarioText('8x-a100', 'pmon.txt', pids));
    expect(rows).toHaveLength(64);
    expect(rows[7]).toMatchObject({ gpuIndex: 0, pid: 1007, smPct: 0, command: 'python3' });
  });

  it('rejects rows without a header and short rows', () => {
    expect(() => parsePmon('    0   5762   C   35')).toThrow(GpuParseError);
    expect(() => parsePmon('# gpu pid type sm mem command\n 0 5762 C')).toThrow(
      /expected 6 columns/,
    );
  });
});

describe('parseList', () => {
  it('reads GPUs and their MIG devices', () => {
    expect(parseList(scenarioText('a100-mig-2gi', 'list.txt'))).toEqual([
      {
        index: 0,
        name: 'NVIDIA A100-SXM4-40GB',
        uuid: 'GPU-8c0e4a4d-61b2-4f6a-b1f3-5d7c2e9a0b14',
        migs: [
          { profile: '3g.20gb', deviceIndex: 0, uuid: 'MIG-3f9d2c71-0a5e-5b8c-9e14-7a6b3c2d1e0f' },
          { profile: '3g.20gb', deviceIndex: 1, uuid: 'MIG-b27e8d40-6c13-5f2a-8d91-0e4f5a6b7c8d' },
        ],
      },
    ]);
  });

  it('rejects unknown lines', () => {
    expect(() => parseList('hello')).toThrow(GpuParseError);
  });
});
