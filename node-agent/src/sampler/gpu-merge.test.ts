import { zeroUsage } from '@agentmeter/crds';
import { describe, expect, it } from 'vitest';
import type { GpuTickResult } from '../gpu/attribute.ts';
import type { TickResult } from './tick.ts';
import { mergeGpu } from './gpu-merge.ts';

const tick: TickResult = {
  pods: [{ uid: 'measured', usage: zeroUsage(), flags: [] }],
  node: { total: zeroUsage(), pods: zeroUsage(), nonPod: zeroUsage(), skew: zeroUsage() },
  baselines: { pods: new Map(), node: undefined },
};

const gpu: GpuTickResult = {
  deltaUs: 1_000n,
  devices: [],
  pods: [
    { podUid: 'measured', key: 'GPU-a', model: 'L4', allocatedUs: 500n, activeUs: 300n },
    { podUid: 'unmeasured', key: 'GPU-a', model: 'L4', allocatedUs: 500n, activeUs: 100n },
    { podUid: 'unmeasured', key: 'GPU-b', model: 'L4', allocatedUs: 1_000n, activeUs: 7n },
  ],
  unattributed: [{ key: 'GPU-a', model: 'L4', allocatedUs: 0n, activeUs: 50n }],
};

describe('mergeGpu', () => {
  it('reports GPU time of pods not measured this tick as unattributed device rows', () => {
    const { result, unattributed, podRows } = mergeGpu(tick, gpu);
    expect(podRows.get('measured')).toEqual([{ model: 'L4', allocatedUs: '500', activeUs: '300' }]);
    expect(unattributed).toEqual([
      { device: 'GPU-a', model: 'L4', allocatedUs: '500', activeUs: '150' },
      { device: 'GPU-b', model: 'L4', allocatedUs: '1000', activeUs: '7' },
    ]);
    // Device totals from the ledger: Σ pod rows + unattributed rows = node total.
    expect(result.node.nonPod).toMatchObject({ gpuAllocatedUs: 1_500n, gpuActiveUs: 157n });
    expect(result.node.total).toMatchObject({ gpuAllocatedUs: 2_000n, gpuActiveUs: 457n });
  });
});
