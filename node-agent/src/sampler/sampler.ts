// The sampler's I/O shell: each tick it reads every pod cgroup and the node root, joins the
// readings to pod metadata, computes usage with the pure tick function, appends the batch to the
// ledger (one fsynced write), and only then publishes metrics. Errors are counted and logged;
// a tick that fails leaves the baselines untouched, so the next tick counts its usage.
import type { LedgerBody, TimeRange } from '@agentmeter/crds';
import type { Logger } from 'pino';
import {
  BlockDevices,
  discoverPods,
  readNodeTotals,
  readPodCounters,
  type CgroupLayout,
  type CgroupReadError,
  type PodCgroup,
} from '../cgroup/index.ts';
import type { AgentMetrics } from '../http/metrics.ts';
import type { LedgerStore } from '../ledger/segment-store.ts';
import { recoverBaseline } from '../ledger/counter-state.ts';
import type { PodMeta } from '../pods/pod-meta.ts';
import type { PodMetadata } from '../pods/pod-metadata.ts';
import { baselinesFromCheckpoint } from './checkpoint.ts';
import { tickBatch, type PodEntryInput } from './ledger-bodies.ts';
import { computeTick, type PodReading, type SamplerBaselines, type TickResult } from './tick.ts';

/** Hooks that later stages (sessions, pricing, GPU) use to enrich a tick before it is written. */
export interface TickEnricher {
  /** Splits a pod's usage across sessions and prices it; returns the entry to write. */
  enrichPod?(entry: PodEntryInput, time: TimeRange): PodEntryInput;
  /** Extra entries for the same batch (e.g. token counts). */
  extraBodies?(tick: string, time: TimeRange): LedgerBody[];
  /** Called after the batch is durable. */
  committed?(tick: string, time: TimeRange): void;
}

export interface SamplerOptions {
  readonly layout: CgroupLayout;
  readonly pods: PodMetadata;
  readonly ledger: LedgerStore;
  readonly metrics: AgentMetrics;
  readonly log: Logger;
  readonly procRoot: string;
  readonly sysRoot: string;
  readonly hostNetNs: string | null;
  readonly enricher?: TickEnricher;
  /** Read concurrency, bounding open files per tick. */
  readonly concurrency?: number;
}

interface Clock {
  readonly hr: bigint;
  readonly wallNs: bigint;
}

function nowClock(anchor: Clock): Clock {
  const hr = process.hrtime.bigint();
  return { hr, wallNs: anchor.wallNs + (hr - anchor.hr) };
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      out[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export class Sampler {
  readonly #opts: SamplerOptions;
  readonly #devices: BlockDevices;
  readonly #anchor: Clock;
  #baselines: SamplerBaselines = { pods: new Map(), node: undefined };
  #coldStart = true;
  #last: Clock | undefined;
  #running: Promise<void> = Promise.resolve();
  #ticks = 0n;

  constructor(opts: SamplerOptions) {
    this.#opts = opts;
    this.#devices = new BlockDevices({ sysRoot: opts.sysRoot });
    this.#anchor = { hr: process.hrtime.bigint(), wallNs: BigInt(Date.now()) * 1_000_000n };
  }

  /** Restores the counter baselines from the ledger's last durable checkpoint. */
  async recover(): Promise<void> {
    const baseline = await recoverBaseline(this.#opts.ledger);
    if (baseline === null) return;
    this.#baselines = baselinesFromCheckpoint(baseline.cgroups.values());
    this.#coldStart = false;
    // The gap since the checkpoint is part of the first tick: its start is the checkpoint's end.
    const endNs = BigInt(baseline.time.end);
    const now = nowClock(this.#anchor);
    this.#last = { hr: now.hr - (now.wallNs - endNs), wallNs: endNs };
    this.#opts.log.info(
      { checkpointSeq: baseline.seq.toString(), cgroups: baseline.cgroups.size },
      'resumed counter baselines from the ledger',
    );
  }

  /** Runs one tick after any tick in progress; ticks never overlap. */
  tick(reason: 'timer' | 'pod-gone' | 'shutdown' = 'timer'): Promise<void> {
    this.#running = this.#running.then(() => this.#tick(reason));
    return this.#running;
  }

  async #tick(reason: string): Promise<void> {
    const { metrics, log } = this.#opts;
    const started = process.hrtime.bigint();
    try {
      await this.#tickOnce(reason);
    } catch (err) {
      metrics.tickError(err instanceof Error ? err.name : 'unknown');
      log.error({ err, reason }, 'tick failed; its usage will be counted by the next tick');
    } finally {
      metrics.observeTick(Number((process.hrtime.bigint() - started) / 1000n) / 1000);
    }
  }

  #countErrors(errors: readonly CgroupReadError[]): void {
    for (const error of errors) {
      this.#opts.metrics.cgroupReadError(error.resource, error.code);
      this.#opts.log.warn(
        { resource: error.resource, code: error.code, path: error.path, cause: String(error.cause ?? '') },
        'cgroup read error',
      );
    }
  }

  async #tickOnce(reason: string): Promise<void> {
    const { layout, pods, ledger, metrics, enricher } = this.#opts;
    const discovery = await discoverPods(layout);
    this.#countErrors(discovery.errors);

    // Only pods whose metadata is known are measured; the others keep their baseline, so their
    // usage is counted in full once the pod watch delivers them (never dropped, never guessed).
    const known: { cgroup: PodCgroup; meta: PodMeta }[] = [];
    for (const cgroup of discovery.pods) {
      const meta = pods.byCgroupUid(cgroup.uid);
      if (meta !== undefined) known.push({ cgroup, meta });
    }
    const readOpts = { procRoot: this.#opts.procRoot, devices: this.#devices, hostNetNs: this.#opts.hostNetNs };
    const results = await mapLimit(known, this.#opts.concurrency ?? 32, (p) =>
      readPodCounters(layout, p.cgroup, readOpts),
    );
    const node = await readNodeTotals(layout, discovery.hierarchy, {
      procRoot: this.#opts.procRoot,
      devices: this.#devices,
    });
    const now = nowClock(this.#anchor);
    const previous = this.#last ?? now;
    const intervalNs = now.hr - previous.hr;

    const readings: PodReading[] = [];
    results.forEach((result, i) => {
      this.#countErrors(result.errors);
      const { cgroup } = known[i] as { cgroup: PodCgroup };
      const c = result.counters;
      readings.push({ uid: cgroup.uid, ...c });
    });
    this.#countErrors(node.errors);

    const present = new Set(discovery.pods.map((p) => p.uid));
    const gone = new Set([...this.#baselines.pods.keys()].filter((uid) => !present.has(uid)));
    const result: TickResult = computeTick({
      previous: this.#baselines,
      pods: readings,
      node: node.counters,
      intervalNs,
      coldStart: this.#coldStart,
      gone,
    });

    const time: TimeRange = { start: previous.wallNs.toString(), end: now.wallNs.toString() };
    const tick = now.wallNs.toString();
    const entries: PodEntryInput[] = result.pods.map((p, i) => {
      const { cgroup, meta } = known[i] as { cgroup: PodCgroup; meta: PodMeta };
      const flags = [...p.flags];
      if (this.#coldStart) flags.push('baseline-established');
      const entry: PodEntryInput = { meta, qos: cgroup.qos, usage: p.usage, flags };
      return enricher?.enrichPod ? enricher.enrichPod(entry, time) : entry;
    });
    const extra = enricher?.extraBodies ? enricher.extraBodies(tick, time) : [];
    const batch = tickBatch(tick, time, entries, result, extra);
    const written = await ledger.append(batch);

    // Durable: advance the baselines and publish.
    this.#baselines = result.baselines;
    this.#coldStart = false;
    this.#last = now;
    this.#ticks++;
    enricher?.committed?.(tick, time);
    for (const entry of entries) metrics.addPodUsage(entry.meta.namespace, entry.meta.name, entry.usage);
    metrics.addNodeCpu('pods', result.node.pods.cpuNs);
    metrics.addNodeCpu('non_pod', result.node.nonPod.cpuNs);
    metrics.addNodeCpu('total', result.node.total.cpuNs);
    metrics.ledgerAppended(BigInt(written.length));
    const stats = ledger.stats();
    metrics.setLedgerState({ bytes: BigInt(stats.bytes), headSeq: stats.head });
    if (reason !== 'timer') {
      this.#opts.log.info({ reason, pods: entries.length, seq: stats.head.toString() }, 'out-of-band tick written');
    }
  }

  /** Ticks written by this process. */
  get ticks(): bigint {
    return this.#ticks;
  }
}
