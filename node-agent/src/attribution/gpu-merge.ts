// Adds a tick's GPU attribution to the cgroup tick: each pod's GPU time joins its usage (so the
// session split and pricing treat it like any other resource) with its per-model rows, and GPU
// time no pod can be charged for becomes node non-pod usage, keeping node conservation exact.
import { addUsage, type GpuDeviceUsage, type GpuModelUsage, type Usage } from '@agentmeter/crds';
import type { GpuTickResult } from '../gpu/attribute.ts';
import { podGpuUsage } from '../gpu/usage.ts';
import type { TickResult } from '../sampler/tick.ts';

export interface GpuMerged {
  readonly result: TickResult;
  readonly podRows: ReadonlyMap<string, readonly GpuModelUsage[]>;
  readonly unattributed: readonly GpuDeviceUsage[];
}

export function mergeGpu(tick: TickResult, gpu: GpuTickResult | null): GpuMerged {
  if (gpu === null) return { result: tick, podRows: new Map(), unattributed: [] };
  const perPod = podGpuUsage(gpu);
  const podRows = new Map<string, GpuModelUsage[]>();
  const pods = tick.pods.map((pod) => {
    const g = perPod.get(pod.uid);
    if (g === undefined) return pod;
    podRows.set(
      pod.uid,
      g.byModel.map((m) => ({
        model: m.model,
        allocatedUs: m.allocatedUs.toString(),
        activeUs: m.activeUs.toString(),
      })),
    );
    const usage: Usage = {
      ...pod.usage,
      gpuAllocatedUs: g.gpuAllocatedUs,
      gpuActiveUs: g.gpuActiveUs,
    };
    return { ...pod, usage };
  });
  // GPU time of pods the sampler did not measure this tick (no metadata yet) is not lost: it is
  // node time nobody was charged for, like the unattributed device rows.
  const measured = new Set(tick.pods.map((p) => p.uid));
  let orphanAllocated = 0n;
  let orphanActive = 0n;
  for (const [uid, g] of perPod) {
    if (measured.has(uid)) continue;
    orphanAllocated += g.gpuAllocatedUs;
    orphanActive += g.gpuActiveUs;
  }
  const unattributed: GpuDeviceUsage[] = gpu.unattributed.map((u) => ({
    device: u.key,
    model: u.model,
    allocatedUs: u.allocatedUs.toString(),
    activeUs: u.activeUs.toString(),
  }));
  const gpuPods: Usage = {
    cpuNs: 0n,
    memoryByteSeconds: 0n,
    ioReadBytes: 0n,
    ioWriteBytes: 0n,
    netRxBytes: 0n,
    netTxBytes: 0n,
    gpuAllocatedUs: pods.reduce((s, p) => s + (p.usage.gpuAllocatedUs ?? 0n), 0n),
    gpuActiveUs: pods.reduce((s, p) => s + (p.usage.gpuActiveUs ?? 0n), 0n),
  };
  const gpuNonPod: Usage = {
    ...gpuPods,
    gpuAllocatedUs: gpu.unattributed.reduce((s, u) => s + u.allocatedUs, 0n) + orphanAllocated,
    gpuActiveUs: gpu.unattributed.reduce((s, u) => s + u.activeUs, 0n) + orphanActive,
  };
  const node = {
    ...tick.node,
    pods: addUsage(tick.node.pods, gpuPods),
    nonPod: addUsage(tick.node.nonPod, gpuNonPod),
    total: addUsage(tick.node.total, addUsage(gpuPods, gpuNonPod)),
  };
  return { result: { ...tick, pods, node }, podRows, unattributed };
}
