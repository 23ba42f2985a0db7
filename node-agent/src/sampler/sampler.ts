// The sampler's I/O shell: each tick it reads every pod cgroup and the node root, joins the
// readings to pod metadata, computes usage with the pure tick function, appends the batch to the
// ledger (one fsynced write), and only then publishes metrics. Errors are counted and logged;
// a tick that fails leaves the baselines untouched, so the next tick counts its usage.
import type { TimeRange } from '@agentmeter/crds';
import type { Logger } from 'pino';
import {
  BlockDevices,
  createPodCounterReader,
  createPodLister,
  discoverPods,
  findKubepodsRoots,
  readNodeTotals,
  type CgroupLayout,
  type CgroupReadError,
  type PodCgroup,
  type PodCounterReader,
} from '../cgroup/index.ts';
import { TimeSlice } from '../runtime/time-slice.ts';
import type { AgentMetrics } from '../metrics/agent-metrics.ts';
import type { LedgerStore } from '../ledger/segment-store.ts';
import { checkpointBody, recoverBaseline } from '../ledger/counter-state.ts';
import type { PodMeta } from '../pods/pod-meta.ts';
import type { PodWatch } from '../pods/pod-watch.ts';
import { mergeGpu } from './gpu-merge.ts';
import type { GpuTickResult } from '../gpu/attribute.ts';
import { baselinesFromCheckpoint, baselinesToCheckpoint } from './checkpoint.ts';
import type { MeasuredPod, Pricer, TickBatch, TickBatcher } from '../batches/tick-batcher.ts';
import { computeTick, type PodReading, type SamplerBaselines, type TickResult } from './tick.ts';

/** Receives what each written batch contributed (metrics, the session API), and the ledger seq
 * of the batch's last entry. */
export interface BatchListener {
  (batch: TickBatch, lastSeq: bigint): void;
}

export interface SamplerOptions {
  readonly layout: CgroupLayout;
  readonly pods: PodWatch;
  readonly ledger: LedgerStore;
  readonly metrics: AgentMetrics;
  readonly log: Logger;
  readonly procRoot: string;
  readonly sysRoot: string;
  readonly hostNetNs: string | null;
  readonly batcher: TickBatcher;
  readonly pricer: Pricer;
  readonly onBatch?: BatchListener;
  /** GPU attribution for the tick (absent on nodes without GPU support enabled). */
  readonly gpu?: { collect(nowNs: bigint): Promise<{ result: GpuTickResult | null }> };
  /** Ticks between searches for new kubepods roots (pods are listed every tick). */
  readonly rootRescanTicks?: number;
}

interface Clock {
  readonly hr: bigint;
  readonly wallNs: bigint;
}

function nowClock(anchor: Clock): Clock {
  const hr = process.hrtime.bigint();
  return { hr, wallNs: anchor.wallNs + (hr - anchor.hr) };
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
  readonly #reader: PodCounterReader;
  #lister: { list(): { pods: PodCgroup[]; errors: CgroupReadError[] } } | undefined;
  #hierarchy: 'v1' | 'v2' = 'v1';
  #ticksSinceRootScan = 0;
  /** The kubepods roots the lister was built for, newline-joined; '' when none were found. */
  #roots = '';
  #hierarchyRoot = '';
  readonly #logged = new Map<string, number>();

  constructor(opts: SamplerOptions) {
    this.#opts = opts;
    this.#devices = new BlockDevices({ sysRoot: opts.sysRoot });
    this.#anchor = { hr: process.hrtime.bigint(), wallNs: BigInt(Date.now()) * 1_000_000n };
    // Kept-open cgroup files read synchronously: kernel pseudo-files never wait on a disk, and
    // this is what keeps a 250-pod tick within its CPU budget.
    this.#reader = createPodCounterReader(opts.layout, {
      procRoot: opts.procRoot,
      devices: this.#devices,
      hostNetNs: opts.hostNetNs,
    });
  }

  /** Pod cgroups now; kubepods roots are searched again every `rootRescanTicks`. */
  async #discover(): Promise<{ pods: PodCgroup[]; errors: CgroupReadError[] }> {
    const rescan = this.#ticksSinceRootScan >= (this.#opts.rootRescanTicks ?? 5);
    // A periodic rescan looks only for kubepods roots; the lister (with its kept pod listing) is
    // rebuilt only when they changed.
    if (this.#lister !== undefined && this.#roots !== '' && rescan) {
      const found = await findKubepodsRoots(this.#hierarchyRoot);
      this.#ticksSinceRootScan = 0;
      if (found.roots.join('\n') !== this.#roots) this.#lister = undefined;
    }
    // Until a kubepods root exists (the kubelet may start after the agent), look every tick.
    if (this.#lister === undefined || this.#roots === '') {
      const discovery = await discoverPods(this.#opts.layout);
      this.#hierarchy = discovery.hierarchy;
      this.#hierarchyRoot = discovery.hierarchyRoot;
      this.#lister = createPodLister(discovery.hierarchyRoot, discovery.roots, discovery.hierarchy);
      this.#roots = discovery.roots.join('\n');
      this.#ticksSinceRootScan = 0;
      if (discovery.errors.length > 0) return { pods: discovery.pods, errors: discovery.errors };
    }
    this.#ticksSinceRootScan++;
    return this.#lister.list();
  }

  /** Closes the kept-open cgroup files. */
  close(): void {
    this.#reader.close();
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

  /** Writes every tick still held for the watermark (on shutdown). */
  flush(): Promise<void> {
    this.#running = this.#running.then(async () => {
      for (const batch of this.#opts.batcher.flush()) await this.#write(batch);
    });
    return this.#running;
  }

  async #write(batch: TickBatch): Promise<void> {
    const { ledger, metrics } = this.#opts;
    const written = await ledger.append(batch.bodies);
    metrics.ledgerAppended(BigInt(written.length));
    this.#opts.onBatch?.(batch, BigInt(written.at(-1)?.seq ?? 0));
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
    const now = Date.now();
    for (const error of errors) {
      this.#opts.metrics.cgroupReadError(error.resource, error.code);
      // Every error is counted; the same error on the same path is logged once a minute.
      const key = `${error.resource}\u0000${error.code}\u0000${error.path}`;
      if ((this.#logged.get(key) ?? 0) > now - 60_000) continue;
      if (this.#logged.size > 10_000) this.#logged.clear();
      this.#logged.set(key, now);
      this.#opts.log.warn(
        {
          resource: error.resource,
          code: error.code,
          path: error.path,
          cause: String(error.cause ?? ''),
        },
        'cgroup read error',
      );
    }
  }

  async #tickOnce(reason: string): Promise<void> {
    const { layout, pods, ledger, metrics } = this.#opts;
    const discovery = await this.#discover();
    this.#countErrors(discovery.errors);

    // Only pods whose metadata is known are measured; the others keep their baseline, so their
    // usage is counted in full once the pod watch delivers them (never dropped, never guessed).
    const known: { cgroup: PodCgroup; meta: PodMeta }[] = [];
    for (const cgroup of discovery.pods) {
      const meta = pods.byCgroupUid(cgroup.uid);
      if (meta !== undefined) known.push({ cgroup, meta });
    }
    // A tick is synchronous CPU (kept-open files, pure stages); it lets scrapes and spans in
    // between slices of it.
    const slice = new TimeSlice();
    const readings: PodReading[] = [];
    for (const { cgroup } of known) {
      if (slice.spent()) await slice.next();
      const result = this.#reader.read(cgroup);
      this.#countErrors(result.errors);
      readings.push({ uid: cgroup.uid, ...result.counters });
    }
    const node = await readNodeTotals(layout, this.#hierarchy, {
      procRoot: this.#opts.procRoot,
      devices: this.#devices,
    });
    const now = nowClock(this.#anchor);
    const previous = this.#last ?? now;
    const intervalNs = now.hr - previous.hr;
    this.#countErrors(node.errors);

    const present = new Set(discovery.pods.map((p) => p.uid));
    const gone = new Set([...this.#baselines.pods.keys()].filter((uid) => !present.has(uid)));
    for (const uid of gone) this.#reader.release(uid);
    const counted: TickResult = computeTick({
      previous: this.#baselines,
      pods: readings,
      node: node.counters,
      intervalNs,
      coldStart: this.#coldStart,
      gone,
    });
    if (slice.spent()) await slice.next();
    const gpu = this.#opts.gpu === undefined ? null : (await this.#opts.gpu.collect(now.hr)).result;
    const { result, podRows, unattributed } = mergeGpu(counted, gpu);

    const time: TimeRange = { end: now.wallNs.toString(), start: previous.wallNs.toString() };
    const tick = now.wallNs.toString();
    const measured: MeasuredPod[] = result.pods.map((p, i) => {
      const { cgroup, meta } = known[i] as { cgroup: PodCgroup; meta: PodMeta };
      const flags = [...p.flags];
      if (this.#coldStart) flags.push('baseline-established');
      const gpuRows = podRows.get(p.uid);
      return {
        meta,
        qos: cgroup.qos,
        usage: p.usage,
        flags,
        pricing: this.#opts.pricer.policyFor(meta),
        ...(gpuRows === undefined ? {} : { gpu: gpuRows }),
      };
    });
    if (this.#coldStart) {
      // The first baselines of a new ledger are written at once, not after the watermark: a
      // restart before then must find them, or it would take cgroups that appeared meanwhile
      // for pre-existing ones and never count their usage.
      await ledger.append([checkpointBody(tick, time, baselinesToCheckpoint(result.baselines))]);
    }
    // The baselines advance in memory now; they reach the disk with this tick's batch once the
    // watermark has passed. A crash before that resumes from the last written checkpoint.
    this.#baselines = result.baselines;
    this.#coldStart = false;
    this.#last = now;
    this.#ticks++;
    const measuredTick = { tick, time, pods: measured, result, gpuUnattributed: unattributed };
    if (slice.spent()) await slice.next();
    for (const batch of this.#opts.batcher.push(measuredTick)) {
      if (slice.spent()) await slice.next();
      await this.#write(batch);
    }
    for (const pod of measured) metrics.addPodUsage(pod.meta.namespace, pod.meta.name, pod.usage);
    metrics.addNodeCpu('pods', result.node.pods.cpuNs);
    metrics.addNodeCpu('non_pod', result.node.nonPod.cpuNs);
    metrics.addNodeCpu('total', result.node.total.cpuNs);
    const stats = ledger.stats();
    metrics.setLedgerState({ bytes: BigInt(stats.bytes), headSeq: stats.head });
    if (reason !== 'timer') {
      this.#opts.log.info(
        { reason, pods: measured.length, seq: stats.head.toString() },
        'out-of-band tick measured',
      );
    }
  }

  /** Ticks this process measured. */
  get ticks(): bigint {
    return this.#ticks;
  }

  /** Wall-clock ns at which this process's last successful tick ended. */
  get lastTickEndNs(): bigint | undefined {
    return this.#ticks === 0n ? undefined : this.#last?.wallNs;
  }
}
