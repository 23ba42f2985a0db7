// Holds measured ticks until the session watermark has passed, then splits each pod's usage
// across its sessions, prices it with the policy that was in force when it was measured, and
// turns the tick into its ledger batch. A tick's batch carries that tick's counter baselines, so
// a crash before a held tick is written loses nothing: its usage is measured again from the
// last written checkpoint.
import { USAGE_KEYS, addUsage, addUsageInto, zeroUsage } from '@agentmeter/crds';
import type {
  CallPrice,
  CallRecord,
  CallsBody,
  CallUsage,
  EntryTags,
  GpuDeviceUsage,
  GpuModelUsage,
  LedgerBody,
  PodCost,
  SessionRef,
  TimeRange,
  MutableUsage,
  Usage,
} from '@agentmeter/crds';
import type { CallCollector, CallPod } from '../calls/index.ts';
import type { PodMeta } from '../pods/pod-meta.ts';
import type { Settlement } from '../sessions/index.ts';
import { callsBodies } from './calls-bodies.ts';
import { tickBatch, type PodEntryInput } from './ledger-bodies.ts';
import type { TickResult } from '../sampler/tick.ts';

/** A pod's usage of one tick before it is split and priced. */
export interface MeasuredPod extends PodEntryInput {
  /** The pricing decision taken when the usage was measured (rates are never retroactive). */
  readonly pricing: PricingRef | null;
}

/** Opaque to the batcher: the pricer knows what it means. */
export interface PricingRef {
  readonly policy: { readonly name: string; readonly generation: string };
  readonly currency: string;
  /** The policy's namespace- and pod-label allocation tags, with their values when measured. */
  readonly tags?: EntryTags;
}

export interface Pricer {
  /** The policy in force for a pod now, or null when none selects it. */
  policyFor(meta: PodMeta): PricingRef | null;
  /** Cost of a pod's usage and of each share; bySession sums to totalNano exactly. */
  priceUsage(
    ref: PricingRef,
    usage: Usage,
    shares: readonly { session: SessionRef | null; usage: Usage }[],
    gpuModel?: string,
  ): PodCost;
  /** One call under the policy generation `ref` names (crds priceCall). */
  priceCall(ref: PricingRef, call: CallUsage): CallPrice;
}

export interface MeasuredTick {
  readonly tick: string;
  readonly time: TimeRange;
  readonly pods: readonly MeasuredPod[];
  readonly result: TickResult;
  /** GPU device time no pod is charged for (node-usage `gpuUnattributed`). */
  readonly gpuUnattributed?: readonly GpuDeviceUsage[];
}

/** What a settled pod entry contributed, for metrics and the session API. */
export interface BatchShare {
  readonly meta: PodMeta;
  readonly session: SessionRef | null;
  readonly usage: Usage;
  readonly costNano: bigint;
  readonly currency: string | null;
}

/** One pod's and session's priced calls of the batch, as written. */
export interface BatchCalls {
  readonly pod: CallPod;
  readonly session: SessionRef | null;
  readonly calls: readonly CallRecord[];
  /** Null when no policy priced them (every call unpriced `no-policy`). */
  readonly currency: string | null;
}

export interface TickBatch {
  readonly tick: string;
  readonly bodies: LedgerBody[];
  readonly shares: readonly BatchShare[];
  readonly calls: readonly BatchCalls[];
}

export interface TickBatcherOptions {
  readonly settlement: Settlement<Usage>;
  readonly calls: CallCollector;
  readonly pricer: Pricer;
  /** Pod metadata by UID, for the policy of calls of pods that may no longer be measured. */
  readonly podByUid: (uid: string) => PodMeta | undefined;
  /** Ticks a measured tick waits before it is split (the span watermark). */
  readonly watermarkTicks: number;
  /**
   * Settled ticks summed into one ledger batch. Each tick is still split on its own (shares of
   * each tick conserve, so their sums do); at short ticks this keeps the ledger's size and the
   * cost of sealing it in proportion to the ledger interval, not the tick.
   */
  readonly ticksPerBatch?: number;
  /** Releases spans still waiting for their trace's session; called before each settle. */
  readonly releaseSpans: (all: boolean) => void;
}

function parseSessionKey(key: string): SessionRef | null {
  const slash = key.indexOf('/');
  const id = key.slice(slash + 1);
  return id === '' ? null : { namespace: key.slice(0, slash), id };
}

function present(usage: Usage, like: Usage): Usage {
  const out: MutableUsage = {};
  for (const key of USAGE_KEYS) {
    if (like[key] !== undefined) out[key] = usage[key] ?? 0n;
  }
  return out as Usage;
}

/** One pod's settled ticks in the current group, summed in place. */
interface SplitPod {
  /** The latest tick's view of the pod (metadata, pricing, QoS). */
  pod: MeasuredPod;
  readonly usage: MutableUsage;
  readonly flags: Set<string>;
  gpu: GpuModelUsage[] | undefined;
  readonly shares: Map<string, { session: SessionRef | null; usage: MutableUsage }>;
}

/** Settled ticks not yet written, summed per pod (and pricing decision). */
interface Group {
  first: MeasuredTick;
  last: MeasuredTick;
  ticks: number;
  readonly pods: Map<string, SplitPod>;
  node: TickResult['node'];
  readonly gpuUnattributed: Map<string, GpuDeviceUsage>;
}

const UNATTRIBUTED = '';

function addRows(
  a: readonly GpuModelUsage[] | undefined,
  b: readonly GpuModelUsage[] | undefined,
): GpuModelUsage[] | undefined {
  if (a === undefined) return b === undefined ? undefined : [...b];
  if (b === undefined) return [...a];
  const byModel = new Map(a.map((r) => [r.model, r]));
  for (const row of b) {
    const prior = byModel.get(row.model);
    byModel.set(
      row.model,
      prior === undefined
        ? row
        : {
            model: row.model,
            allocatedUs: (BigInt(prior.allocatedUs) + BigInt(row.allocatedUs)).toString(),
            activeUs: (BigInt(prior.activeUs) + BigInt(row.activeUs)).toString(),
          },
    );
  }
  return [...byModel.values()].sort((x, y) => (x.model < y.model ? -1 : x.model > y.model ? 1 : 0));
}

function addShare(
  acc: SplitPod,
  sessionKey: string,
  session: SessionRef | null,
  usage: Usage,
): void {
  const prior = acc.shares.get(sessionKey);
  if (prior === undefined) acc.shares.set(sessionKey, { session, usage: { ...usage } });
  else addUsageInto(prior.usage, usage);
}

export class TickBatcher {
  readonly #opts: TickBatcherOptions;
  readonly #pending: MeasuredTick[] = [];
  #group: Group | null = null;

  constructor(options: TickBatcherOptions) {
    this.#opts = options;
  }

  get pending(): number {
    return this.#pending.length + (this.#group?.ticks ?? 0);
  }

  /** Adds a measured tick; returns the batches now past the watermark, oldest first. */
  push(tick: MeasuredTick): TickBatch[] {
    this.#pending.push(tick);
    const out: TickBatch[] = [];
    while (this.#pending.length > this.#opts.watermarkTicks) {
      const batch = this.#settleOldest(false);
      if (batch !== null) out.push(batch);
    }
    return out;
  }

  /** Settles and writes everything held, e.g. on shutdown. */
  flush(): TickBatch[] {
    const out: TickBatch[] = [];
    while (this.#pending.length > 0) {
      const batch = this.#settleOldest(true);
      if (batch !== null) out.push(batch);
    }
    const rest = this.#emit();
    if (rest !== null) out.push(rest);
    return out;
  }

  /** Splits the oldest held tick into the current group; emits the group once it is full. */
  #settleOldest(final: boolean): TickBatch | null {
    const tick = this.#pending.shift() as MeasuredTick;
    this.#opts.releaseSpans(final);
    const window = { t0: BigInt(tick.time.start), t1: BigInt(tick.time.end) };
    const group: Group =
      this.#group ??
      (this.#group = {
        first: tick,
        last: tick,
        ticks: 0,
        pods: new Map(),
        node: { total: zeroUsage(), pods: zeroUsage(), nonPod: zeroUsage(), skew: zeroUsage() },
        gpuUnattributed: new Map(),
      });
    group.last = tick;
    group.ticks++;
    group.node = {
      total: addUsage(group.node.total, tick.result.node.total),
      pods: addUsage(group.node.pods, tick.result.node.pods),
      nonPod: addUsage(group.node.nonPod, tick.result.node.nonPod),
      skew: addUsage(group.node.skew, tick.result.node.skew),
    };
    for (const row of tick.gpuUnattributed ?? []) {
      const prior = group.gpuUnattributed.get(row.device);
      group.gpuUnattributed.set(
        row.device,
        prior === undefined
          ? row
          : {
              ...row,
              allocatedUs: (BigInt(prior.allocatedUs) + BigInt(row.allocatedUs)).toString(),
              activeUs: (BigInt(prior.activeUs) + BigInt(row.activeUs)).toString(),
            },
      );
    }
    for (const pod of tick.pods) {
      const settled =
        window.t1 > window.t0
          ? this.#opts.settlement.pushTick({ podUid: pod.meta.uid, window, usage: pod.usage })
          : [];
      const split = settled[settled.length - 1];
      // A pod priced by another policy generation, or whose tags changed, mid-interval gets its
      // own entry.
      const key = `${pod.meta.uid} ${pod.pricing?.policy.name ?? ''}@${pod.pricing?.policy.generation ?? ''} ${JSON.stringify(pod.pricing?.tags ?? {})}`;
      let acc = group.pods.get(key);
      if (acc === undefined) {
        acc = { pod, usage: {}, flags: new Set(), gpu: undefined, shares: new Map() };
        group.pods.set(key, acc);
      }
      acc.pod = pod;
      addUsageInto(acc.usage, pod.usage);
      for (const flag of pod.flags) acc.flags.add(flag);
      if (pod.gpu !== undefined) acc.gpu = addRows(acc.gpu, pod.gpu);
      if (split === undefined) {
        addShare(acc, UNATTRIBUTED, null, pod.usage);
      } else {
        for (const [sessionKey, share] of split.shares) {
          addShare(acc, sessionKey, parseSessionKey(sessionKey), share as Usage);
        }
        addShare(acc, UNATTRIBUTED, null, split.unattributed);
      }
    }
    return group.ticks < (this.#opts.ticksPerBatch ?? 1) ? null : this.#emit();
  }

  /** Prices the group and turns it into one ledger batch. */
  #emit(): TickBatch | null {
    const group = this.#group;
    if (group === null) return null;
    this.#group = null;
    const tick = group.last.tick;
    // end before start: keys in canonical order, so the ledger writer need not copy the range.
    const time: TimeRange = { end: group.last.time.end, start: group.first.time.start };
    const shares: BatchShare[] = [];
    const entries: PodEntryInput[] = [...group.pods.values()].map((acc) => {
      const byKey = acc.shares;
      const pod: MeasuredPod = {
        ...acc.pod,
        usage: acc.usage as Usage,
        flags: [...acc.flags],
        ...(acc.gpu === undefined ? {} : { gpu: acc.gpu }),
      };
      // Sessions in key order, the unattributed remainder last.
      const keys = [...byKey.keys()].filter((k) => k !== UNATTRIBUTED).sort();
      const podShares = [...keys, UNATTRIBUTED]
        .map((k) => byKey.get(k))
        .filter((v): v is { session: SessionRef | null; usage: Usage } => v !== undefined)
        .map((v) => ({ session: v.session, usage: present(v.usage, pod.usage) }));
      // A pod's GPUs are one model in practice; its first row names the per-model rate.
      const gpuModel = pod.gpu?.[0]?.model;
      const cost =
        pod.pricing === null
          ? null
          : this.#opts.pricer.priceUsage(pod.pricing, pod.usage, podShares, gpuModel);
      podShares.forEach((share, i) => {
        shares.push({
          meta: pod.meta,
          session: share.session,
          usage: share.usage,
          costNano: cost === null ? 0n : BigInt(cost.bySession[i]?.totalNano ?? '0'),
          currency: cost?.currency ?? null,
        });
      });
      return { ...pod, shares: podShares, cost, tags: pod.pricing?.tags };
    });
    const calls: BatchCalls[] = [];
    const callBodies: CallsBody[] = [];
    for (const group of this.#opts.calls.drain()) {
      const meta = this.#opts.podByUid(group.pod.uid);
      const ref = meta === undefined ? null : this.#opts.pricer.policyFor(meta);
      const pricer = this.#opts.pricer;
      const session = parseSessionKey(group.sessionKey);
      const { records, bodies } = callsBodies(
        tick,
        time,
        group.pod,
        session,
        group.calls,
        ref === null ? null : { ref, price: (usage) => pricer.priceCall(ref, usage) },
      );
      calls.push({ pod: group.pod, session, calls: records, currency: ref?.currency ?? null });
      callBodies.push(...bodies);
    }
    const result: TickResult = {
      pods: [],
      node: group.node,
      baselines: group.last.result.baselines,
    };
    return {
      tick,
      bodies: tickBatch(tick, time, entries, result, callBodies, [
        ...group.gpuUnattributed.values(),
      ]),
      shares,
      calls,
    };
  }
}
