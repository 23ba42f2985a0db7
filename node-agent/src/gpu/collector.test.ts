import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FakePod } from '../../../test/support/fake-kubelet-podresources.ts';
import { FakeKubelet } from '../../../test/support/fake-kubelet-podresources.ts';
import type { GpuCollectorOptions, GpuLogLine } from './collector.ts';
import { GpuCollector } from './collector.ts';
import type { GpuError } from './errors.ts';
import { FAKE_NVIDIA_SMI_BIN, pidsEnv, scenarioDir, writeFakeProc } from './test-helpers.ts';

const T4 = 'GPU-5e2b7f0c-3d1a-4c8e-9b6f-2a7d4e1c8b93';
const UID = {
  podA: 'aaaaaaaa-0000-4000-8000-000000000001',
  podB: 'bbbbbbbb-0000-4000-8000-000000000002',
  podC: 'cccccccc-0000-4000-8000-000000000003',
};
const PIDS = { podA: 301, podB: 302, podC: 303 };
const S = 1_000_000_000n; // 1 s in ns

let dir: string;
let kubelet: FakeKubelet | null;
let clock: number;
let errors: GpuError[];
let logs: GpuLogLine[];
let collectors: GpuCollector[];

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gpu-collector-'));
  for (const [name, pid] of Object.entries(PIDS))
    await writeFakeProc(
      path.join(dir, 'proc'),
      pid,
      1000n + BigInt(pid),
      UID[name as keyof typeof UID],
    );
  kubelet = null;
  clock = 0;
  errors = [];
  logs = [];
  collectors = [];
});
afterEach(async () => {
  for (const c of collectors) await c.stop();
  await kubelet?.stop();
  await rm(dir, { recursive: true, force: true });
});

const timeslicePods: FakePod[] = ['podA', 'podB', 'podC'].map((name, i) => ({
  namespace: 'agents',
  name,
  containers: [
    { name: 'main', devices: [{ resourceName: 'nvidia.com/gpu', deviceIds: [`${T4}::${i}`] }] },
  ],
}));

function collector(scenario: string, opts: Partial<GpuCollectorOptions> = {}): GpuCollector {
  const c = new GpuCollector({
    nvidiaSmi: {
      timeoutMs: 2_000,
      env: {
        ...process.env,
        PATH: `${FAKE_NVIDIA_SMI_BIN}:${process.env.PATH ?? ''}`,
        FAKE_NVIDIA_SMI_SCENARIO: scenarioDir(scenario),
        FAKE_NVIDIA_SMI_PIDS: pidsEnv(PIDS),
      },
    },
    podResources: { socketPath: path.join(dir, 'kubelet.sock'), deadlineMs: 1_000 },
    lookupPod: (ns, name) =>
      ns === 'agents' && name in UID
        ? { uid: UID[name as keyof typeof UID], phase: 'Running' }
        : undefined,
    procRoot: path.join(dir, 'proc'),
    onError: (e) => errors.push(e),
    log: (l) => logs.push(l),
    clockMs: () => clock,
    sampleIntervalMs: 10_000,
    ...opts,
  });
  collectors.push(c);
  return c;
}

describe('GpuCollector', () => {
  it('meters three time-slicing pods end to end and conserves the device total', async () => {
    kubelet = await FakeKubelet.start(path.join(dir, 'kubelet.sock'), timeslicePods);
    const c = collector('timeslice-3pods');
    expect(await c.refresh()).toEqual([]);
    expect((await c.collect(100n * S)).result).toBeNull(); // baseline
    const { result, errors: errs } = await c.collect(110n * S);
    expect(errs).toEqual([]);
    expect(result?.devices).toEqual([
      {
        key: T4,
        model: 'Tesla T4',
        sharing: 'timesliced',
        allocatedUs: 10_000_000n,
        activeUs: 9_000_000n,
        utilPpm: 900_000n,
        activeSource: 'nvidia-smi',
        dcgmRejected: false,
      },
    ]);
    expect(result?.pods.map((p) => [p.podUid, p.allocatedUs, p.activeUs])).toEqual([
      [UID.podA, 3_333_334n, 5_625_000n],
      [UID.podB, 3_333_333n, 2_250_000n],
      [UID.podC, 3_333_333n, 1_125_000n],
    ]);
    expect(result?.unattributed).toEqual([]);
  });

  it('keeps working through a hung nvidia-smi: killed at the timeout, reported once, logged once', async () => {
    const c = collector('hang', {
      nvidiaSmi: {
        timeoutMs: 300,
        env: {
          ...process.env,
          PATH: `${FAKE_NVIDIA_SMI_BIN}:${process.env.PATH ?? ''}`,
          FAKE_NVIDIA_SMI_SCENARIO: scenarioDir('hang'),
        },
      },
    });
    const started = Date.now();
    const refreshErrors = await c.refresh();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(refreshErrors.map((e) => e.reason)).toEqual(['timeout']);
    // The refresh's errors surface in the next collect, which still returns (no sample yet).
    const first = await c.collect(1n * S);
    expect(first.errors.map((e) => `${e.source}:${e.reason}`)).toEqual(['nvidia-smi:timeout']);
    expect(await c.collect(2n * S)).toEqual({ result: null, errors: [] });
    await c.refresh();
    expect(errors.filter((e) => e.reason === 'timeout')).toHaveLength(2);
    expect(logs.map((l) => [l.source, l.reason])).toEqual([['nvidia-smi', 'timeout']]);
    clock += 61_000;
    await c.refresh();
    expect(logs.at(-1)).toMatchObject({ reason: 'timeout', suppressed: 1 });
    // SIGKILL lands asynchronously; the killed child must not linger.
    for (let i = 0; i < 50 && c.lingeringNvidiaSmi > 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(c.lingeringNvidiaSmi).toBe(0);
  });

  it.each([
    ['driver-error', 'driver'],
    ['garbage-xml', 'parse'],
  ])('reports %s as %s without throwing', async (scenario, reason) => {
    const c = collector(scenario);
    expect((await c.refresh()).map((e) => e.reason)).toEqual([reason]);
    expect(logs[0]).toMatchObject({ msg: 'gpu metering degraded', source: 'nvidia-smi', reason });
  });

  it('reports no nvidia-smi as not_found', async () => {
    const c = collector('t4-single', { nvidiaSmi: { binary: path.join(dir, 'nvidia-smi') } });
    expect((await c.refresh()).map((e) => e.reason)).toEqual(['not_found']);
  });

  it('without the kubelet socket, meters the device as unallocated and says why', async () => {
    const c = collector('t4-single');
    await c.refresh();
    await c.collect(0n);
    const { result, errors: errs } = await c.collect(5n * S);
    expect(errs.map((e) => e.reason)).toEqual(['socket_missing']);
    expect(result?.devices[0]?.sharing).toBe('unallocated');
    // The process still resolves to its pod, so activity is charged; allocation is not.
    expect(result?.pods).toEqual([
      { podUid: UID.podA, key: T4, model: 'Tesla T4', allocatedUs: 0n, activeUs: 1_750_000n },
    ]);
    expect(result?.unattributed).toEqual([
      { key: T4, model: 'Tesla T4', allocatedUs: 5_000_000n, activeUs: 0n },
    ]);
  });

  it('stops charging activity from a stale sample but keeps allocation', async () => {
    kubelet = await FakeKubelet.start(path.join(dir, 'kubelet.sock'), [
      timeslicePods[0] as FakePod,
    ]);
    const c = collector('t4-single');
    await c.refresh();
    await c.collect(0n);
    clock = 31_000;
    const { result, errors: errs } = await c.collect(10n * S);
    expect(errs.map((e) => e.reason)).toEqual(['stale_sample']);
    expect(result?.devices[0]).toMatchObject({
      activeSource: 'missing',
      activeUs: 0n,
      allocatedUs: 10_000_000n,
    });
    expect(result?.pods.map((p) => [p.podUid, p.allocatedUs, p.activeUs])).toEqual([
      [UID.podA, 10_000_000n, 0n],
    ]);
  });

  describe('with dcgm-exporter', () => {
    let server: Server | null = null;
    afterEach(() => {
      server?.closeAllConnections();
      server?.close();
      server = null;
    });

    async function dcgm(body: string): Promise<string> {
      server = createServer((_req, res) => res.end(body));
      await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
    }

    it('uses GR_ENGINE_ACTIVE, and rejects a zero while processes run', async () => {
      const good = await dcgm(
        `DCGM_FI_PROF_GR_ENGINE_ACTIVE{gpu="0",UUID="${T4}",device="nvidia0"} 0.42\n`,
      );
      const c = collector('t4-single', { dcgm: { url: good } });
      await c.refresh();
      await c.collect(0n);
      expect((await c.collect(S)).result?.devices[0]).toMatchObject({
        activeSource: 'dcgm',
        activeUs: 420_000n,
      });
      server?.close();

      const zero = await dcgm(
        `DCGM_FI_PROF_GR_ENGINE_ACTIVE{gpu="0",UUID="${T4}",device="nvidia0"} 0\n`,
      );
      const z = collector('t4-single', { dcgm: { url: zero } });
      await z.refresh();
      await z.collect(0n);
      const out = await z.collect(S);
      expect(out.result?.devices[0]).toMatchObject({
        activeSource: 'nvidia-smi',
        dcgmRejected: true,
        activeUs: 350_000n,
      });
      expect(out.errors.map((e) => e.reason)).toContain('dcgm_zero');
    });

    it('treats a missing series as missing, not zero', async () => {
      const url = await dcgm('DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-other"} 10\n');
      const c = collector('t4-single', { dcgm: { url } });
      await c.refresh();
      await c.collect(0n);
      const out = await c.collect(S);
      expect(out.result?.devices[0]).toMatchObject({
        activeSource: 'nvidia-smi',
        activeUs: 350_000n,
      });
      expect(out.errors.map((e) => e.reason)).toContain('dcgm_missing');
    });
  });
});
