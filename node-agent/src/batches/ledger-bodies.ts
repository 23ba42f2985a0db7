// Builds one tick's ledger batch from plain data: a pod-usage entry per pod with metadata, the
// node-usage entry, and the checkpoint that closes the batch (invariant 3).
import {
  usageToWire,
  type EntryTags,
  type GpuDeviceUsage,
  type GpuModelUsage,
  type LedgerBody,
  type PodCost,
  type PodQos,
  type PodUsageBody,
  type TimeRange,
  type Usage,
  type UsageShare,
} from '@agentmeter/crds';
import { checkpointBody } from '../ledger/counter-state.ts';
import type { PodMeta } from '../pods/pod-meta.ts';
import { baselinesToCheckpoint } from '../sampler/checkpoint.ts';
import type { TickResult } from '../sampler/tick.ts';

export interface PodEntryInput {
  readonly meta: PodMeta;
  readonly qos: PodQos;
  readonly usage: Usage;
  /** Session shares summing to `usage`; absent → the whole pod is unattributed. */
  readonly shares?: readonly { readonly session: UsageShare['session']; readonly usage: Usage }[];
  readonly cost?: PodCost | null;
  readonly flags: readonly string[];
  /** Per-model rows of the pod's GPU time (GPU pods only). */
  readonly gpu?: readonly GpuModelUsage[];
  /** The pricing policy's label tags as they were when the usage was measured. */
  readonly tags?: EntryTags | undefined;
}

export function podUsageBody(tick: string, time: TimeRange, input: PodEntryInput): PodUsageBody {
  const { meta } = input;
  const shares = input.shares ?? [{ session: null, usage: input.usage }];
  const cost = input.cost ?? null;
  return {
    kind: 'pod-usage',
    tick,
    time,
    // Keys in canonical order, so the ledger writer passes the object through without a copy.
    pod: {
      name: meta.name,
      namespace: meta.namespace,
      qos: input.qos,
      uid: meta.uid,
      ...(meta.ownerRef === undefined ? {} : { workload: meta.ownerRef }),
    },
    usage: usageToWire(input.usage),
    shares: shares.map((s) => ({ session: s.session, usage: usageToWire(s.usage) })),
    cost,
    priced: cost !== null,
    flags: [...input.flags].sort(),
    ...(input.gpu === undefined || input.gpu.length === 0 ? {} : { gpu: input.gpu }),
    ...(input.tags === undefined ? {} : { tags: input.tags }),
  };
}

/**
 * The tick's batch. Pods whose usage was held back (no metadata yet) are not in `podEntries`;
 * their baseline was not advanced, so their usage is counted once their metadata arrives.
 */
export function tickBatch(
  tick: string,
  time: TimeRange,
  podEntries: readonly PodEntryInput[],
  result: TickResult,
  extra: readonly LedgerBody[] = [],
  gpuUnattributed: readonly GpuDeviceUsage[] = [],
): LedgerBody[] {
  const pods = podEntries.map((input) => podUsageBody(tick, time, input));
  return [
    ...pods,
    ...extra,
    {
      kind: 'node-usage',
      tick,
      time,
      nodeTotal: usageToWire(result.node.total),
      pods: usageToWire(result.node.pods),
      nonPod: usageToWire(result.node.nonPod),
      podEntries: String(pods.length),
      ...(gpuUnattributed.length === 0 ? {} : { gpuUnattributed }),
    },
    checkpointBody(tick, time, baselinesToCheckpoint(result.baselines)),
  ];
}
