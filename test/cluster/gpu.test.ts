// GPU metering on the real node. The GPU and its driver are the only fakes: a device plugin
// registered through the real kubelet's device-plugin API advertises one `nvidia.com/gpu`
// (the T4 of the t4-single fixture), the real scheduler and kubelet give it to a real pod, and
// the kubelet's real PodResources socket tells the agent which pod holds it; nvidia-smi replays
// the fixture's recorded output with the pod's real PID. The pod's GPU time must be charged to it.
import type { LedgerEntry, NodeUsageEntry, PodUsageEntry } from '@agentmeter/crds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.ts';
import type { FakeGpuPlugin } from '../support/gpu-device-plugin.ts';
import { apply } from './support/cluster.ts';
import {
  disableGpuMetering,
  enableGpuMetering,
  gpuPod,
  startGpuPlugin,
  T4,
} from './support/gpu.ts';
import {
  createNamespace,
  deleteNamespace,
  waitForPodPhase,
  type PodStatus,
} from './support/pods.ts';
import { agentLedgerAccess, pullLedger } from './support/views.ts';

describe('GPU time on the real node (device plugin and PodResources real, GPU replayed)', () => {
  let namespace = '';
  let plugin: FakeGpuPlugin | undefined;
  let driverDir = '';
  let pod: PodStatus | undefined;

  beforeAll(async () => {
    plugin = await startGpuPlugin();
    namespace = await createNamespace('gpu');
    await apply([gpuPod('trainer', namespace)]);
    pod = await waitForPodPhase(namespace, 'trainer', ['Running']);
    // The agent starts with GPU metering on, the replayed nvidia-smi naming the trainer's PID.
    driverDir = await enableGpuMetering(pod);
  });

  afterAll(async () => {
    if (namespace) await deleteNamespace(namespace);
    await disableGpuMetering(driverDir);
    await plugin?.stop();
  });

  it('the kubelet allocated the advertised device to the pod', () => {
    expect(plugin?.allocations).toEqual([[T4]]);
  });

  it("charges the T4's time to the pod that holds it", async () => {
    const uid = pod?.metadata.uid ?? '';
    const access = await agentLedgerAccess();
    let entries: LedgerEntry[] = [];
    const mine = (): PodUsageEntry[] =>
      entries.filter((e): e is PodUsageEntry => e.kind === 'pod-usage' && e.pod.uid === uid);
    await waitFor(
      'GPU time in the ledger for the trainer pod',
      async () => {
        entries = await pullLedger(access);
        return mine().filter((e) => BigInt(e.usage.gpuAllocatedUs ?? '0') > 0n).length >= 2;
      },
      180_000,
    );
    const gpu = mine().filter((e) => BigInt(e.usage.gpuAllocatedUs ?? '0') > 0n);
    const allocatedUs = gpu.reduce((s, e) => s + BigInt(e.usage.gpuAllocatedUs ?? '0'), 0n);
    const activeUs = gpu.reduce((s, e) => s + BigInt(e.usage.gpuActiveUs ?? '0'), 0n);
    for (const e of gpu) expect(e.gpu?.map((g) => g.model)).toEqual(['Tesla T4']);
    // The T4 is held by the trainer alone: no tick leaves its device time unattributed.
    const ticks = new Set(gpu.map((e) => e.tick));
    const unattributed = entries
      .filter((e): e is NodeUsageEntry => e.kind === 'node-usage' && ticks.has(e.tick))
      .flatMap((e) => e.gpuUnattributed ?? [])
      .filter((d) => d.device === T4)
      .reduce((s, d) => s + BigInt(d.allocatedUs), 0n);
    process.stdout.write(
      `trainer ${uid}: ${gpu.length} ticks, T4 allocated ${allocatedUs} us, active ${activeUs} us; unattributed ${unattributed} us\n`,
    );
    expect(allocatedUs).toBeGreaterThan(0n);
    expect(activeUs).toBeGreaterThan(0n);
    expect(activeUs).toBeLessThanOrEqual(allocatedUs);
    expect(unattributed).toBe(0n);
  });
});
