// Hands a GpuTickResult to the rest of the agent: per-pod totals for the ledger's Usage fields
// (gpuAllocatedUs, gpuActiveUs) with the per-model breakdown CostPolicy GPU rates need.
import type { GpuTickResult } from './attribute.ts';

export interface GpuModelUsage {
  model: string;
  allocatedUs: bigint;
  activeUs: bigint;
}

export interface PodGpuUsage {
  gpuAllocatedUs: bigint;
  gpuActiveUs: bigint;
  /** Sorted by model; sums to the two totals. */
  byModel: GpuModelUsage[];
}

/** Per pod UID, the pod's GPU time over the tick, summed over its devices. */
export function podGpuUsage(result: GpuTickResult): Map<string, PodGpuUsage> {
  const out = new Map<string, PodGpuUsage>();
  for (const p of result.pods) {
    let u = out.get(p.podUid);
    if (u === undefined)
      out.set(p.podUid, (u = { gpuAllocatedUs: 0n, gpuActiveUs: 0n, byModel: [] }));
    u.gpuAllocatedUs += p.allocatedUs;
    u.gpuActiveUs += p.activeUs;
    let m = u.byModel.find((x) => x.model === p.model);
    if (m === undefined) {
      u.byModel.push((m = { model: p.model, allocatedUs: 0n, activeUs: 0n }));
      u.byModel.sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : 0));
    }
    m.allocatedUs += p.allocatedUs;
    m.activeUs += p.activeUs;
  }
  return out;
}
