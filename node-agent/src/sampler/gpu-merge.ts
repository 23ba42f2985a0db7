// Adds a tick's GPU attribution to the cgroup tick: each pod's GPU time joins its usage (so the
// session split and pricing treat it like any other resource) with its per-model rows, and GPU
// time no pod can be charged for becomes node non-pod usage, keeping node conservation exact.
import {
  addUsage,
  zeroUsage,
  type GpuDeviceUsage,
  type GpuModelUsage,
  type Usage,
} from '@agentmeter/crds';
import type { GpuTickResult } from '../gpu/attribute.ts';
import { podGpuUsage } from '../gpu/usage.ts';
import type { TickResult } from './tick.ts';

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
  // GPU time of pods the sampler did not measure this tick (no metadata or cgroup yet) is not
  // lost: it is device time nobody was charged for, reported with the unattributed device rows so
  // the ledger's device totals (Σ pod rows + unattributed rows) still add up exactly.
  const measured = new Set(tick.pods.map((p) => p.uid));
  const rows = new Map<string, { model: string; allocatedUs: bigint; activeUs: bigint }>();
  for (const u of gpu.unattributed)
    rows.set(u.key, { model: u.model, allocatedUs: u.allocatedUs, activeUs: u.activeUs });
  for (const p of gpu.pods) {
    if (measured.has(p.podUid)) continue;
    const row = rows.get(p.key);
    if (row === undefined)
      rows.set(p.key, { model: p.model, allocatedUs: p.allocatedUs, activeUs: p.activeUs });
    else {
      row.allocatedUs += p.allocatedUs;
      row.activeUs += p.activeUs;
    }
  }
  const unattributed: GpuDeviceUsage[] = [...rows]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([device, u]) => ({
      device,
      model: u.model,
      allocatedUs: u.allocatedUs.toString(),
      activeUs: u.activeUs.toString(),
    }));
  const gpuPods: Usage = {
    ...zeroUsage(),
    gpuAllocatedUs: pods.reduce((s, p) => s + (p.usage.gpuAllocatedUs ?? 0n), 0n),
    gpuActiveUs: pods.reduce((s, p) => s + (p.usage.gpuActiveUs ?? 0n), 0n),
  };
  const gpuNonPod: Usage = {
    ...gpuPods,
    gpuAllocatedUs: [...rows.values()].reduce((s, u) => s + u.allocatedUs, 0n),
    gpuActiveUs: [...rows.values()].reduce((s, u) => s + u.activeUs, 0n),
  };
  const node = {
    ...tick.node,
    pods: addUsage(tick.node.pods, gpuPods),
    nonPod: addUsage(tick.node.nonPod, gpuNonPod),
    total: addUsage(tick.node.total, addUsage(gpuPods, gpuNonPod)),
  };
  return { result: { ...tick, pods, node }, podRows, unattributed };
}
