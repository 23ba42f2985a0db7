// The agent's Prometheus metrics. Usage totals are kept here as exact BigInts and turned into
// floats only when a scrape renders them (the exposition format's values are floats).
//
// Two private registries hold the same metrics, one per exposition format: prom-client's
// OpenMetrics rendering permanently strips `_total` from a counter's name, so one metric
// object cannot serve both formats. Counters and gauges read the shared state in collect();
// only the histogram is observed twice.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type {
  CounterConfiguration,
  MetricObjectWithValues,
  MetricValue,
  OpenMetricsContentType,
} from 'prom-client';
import { addUsageInto, type Usage } from '@agentmeter/crds';

export type ExpositionFormat = 'prometheus' | 'openmetrics';

export const PROMETHEUS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;
export const OPENMETRICS_CONTENT_TYPE = Registry.OPENMETRICS_CONTENT_TYPE;

/** Which CPU a node counter covers; pods + non_pod = total (design invariant 1). */
export type NodeCpuScope = 'pods' | 'non_pod' | 'total';

export interface AgentMetricsOptions {
  /** How long a gone pod's series stay exported, so the last increments get scraped. Default 5 min. */
  readonly podSeriesGraceMs?: number;
  readonly now?: () => number;
}

type Totals = { -readonly [K in keyof Usage]-?: bigint };

interface PodSeries {
  readonly namespace: string;
  readonly pod: string;
  readonly totals: Totals;
  removeAt: number | undefined;
}

const NS_PER_S = 1_000_000_000n;
const US_PER_S = 1_000_000n;
const DEFAULT_GRACE_MS = 5 * 60_000;
const TICK_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

function zeroTotals(): Totals {
  return {
    cpuNs: 0n,
    memoryByteSeconds: 0n,
    memoryRssByteSeconds: 0n,
    ioReadBytes: 0n,
    ioWriteBytes: 0n,
    netRxBytes: 0n,
    netTxBytes: 0n,
    gpuAllocatedUs: 0n,
    gpuActiveUs: 0n,
  };
}

type SeriesValue = { labels: Partial<Record<string, string>>; value: number };

/**
 * A counter whose series are read straight from the agent's totals at scrape time. A plain
 * Counter would be reset and re-incremented per series on every scrape, hashing each label set
 * again: the larger part of rendering 250 pods' series.
 */
class TotalsCounter extends Counter {
  readonly #series: () => SeriesValue[];

  constructor(config: CounterConfiguration<string>, series: () => SeriesValue[]) {
    super(config);
    this.#series = series;
  }

  /** The base object has no series of its own: it supplies name, help, type and aggregator. */
  override async get(): Promise<MetricObjectWithValues<MetricValue<string>>> {
    return { ...(await super.get()), values: this.#series() };
  }
}

/** Exact integer units → seconds, splitting off the whole part so large totals keep precision. */
function toSeconds(value: bigint, perSecond: bigint): number {
  return Number(value / perSecond) + Number(value % perSecond) / Number(perSecond);
}

/** A labelled counter map keyed by the joined label values. */
class CountMap<L extends string> {
  readonly #labels: readonly L[];
  readonly #values = new Map<string, { labels: Record<L, string>; value: bigint }>();

  constructor(labels: readonly L[]) {
    this.#labels = labels;
  }

  add(labels: Record<L, string>, by: bigint): void {
    const key = this.#labels.map((l) => labels[l]).join('\u0000');
    const entry = this.#values.get(key);
    if (entry) entry.value += by;
    else this.#values.set(key, { labels: { ...labels }, value: by });
  }

  entries(): Iterable<{ labels: Record<L, string>; value: bigint }> {
    return this.#values.values();
  }
}

export class AgentMetrics {
  readonly #registries: { prometheus: Registry; openmetrics: Registry<OpenMetricsContentType> };
  readonly #graceMs: number;
  readonly #now: () => number;
  readonly #pods = new Map<string, PodSeries>();
  readonly #namespaces = new Map<string, Totals>();
  readonly #nodeCpu = new CountMap<'scope'>(['scope']);
  readonly #tickErrors = new CountMap<'reason'>(['reason']);
  readonly #readErrors = new CountMap<'resource' | 'reason'>(['resource', 'reason']);
  readonly #watchRestarts = new CountMap<'reason'>(['reason']);
  readonly #tickHistograms: Histogram[] = [];
  #podWatchSynced = false;
  #ledgerBytes = 0n;
  #ledgerHeadSeq = 0n;
  #ledgerEntries = 0n;

  constructor(options: AgentMetricsOptions = {}) {
    this.#graceMs = options.podSeriesGraceMs ?? DEFAULT_GRACE_MS;
    this.#now = options.now ?? Date.now;
    const openmetrics = new Registry<OpenMetricsContentType>();
    openmetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    this.#registries = { prometheus: new Registry(), openmetrics };
    this.#define(this.#registries.prometheus);
    this.#define(this.#registries.openmetrics);
  }

  /** Adds one tick's usage of a pod (and its namespace). Label values are the pod's names,
   * bounded by the pods on this node; never pass session or trace ids. */
  addPodUsage(namespace: string, pod: string, usage: Usage): void {
    const key = `${namespace}/${pod}`;
    let series = this.#pods.get(key);
    if (!series)
      this.#pods.set(key, (series = { namespace, pod, totals: zeroTotals(), removeAt: undefined }));
    series.removeAt = undefined;
    addUsageInto(series.totals, usage);
    let ns = this.#namespaces.get(namespace);
    if (!ns) this.#namespaces.set(namespace, (ns = zeroTotals()));
    addUsageInto(ns, usage);
  }

  /** The pod is gone: drop its series after the grace period (unless it reports usage again). */
  podGone(namespace: string, pod: string): void {
    const series = this.#pods.get(`${namespace}/${pod}`);
    if (series) series.removeAt = this.#now() + this.#graceMs;
  }

  addNodeCpu(scope: NodeCpuScope, cpuNs: bigint): void {
    this.#nodeCpu.add({ scope }, cpuNs);
  }

  observeTick(durationMs: number): void {
    for (const h of this.#tickHistograms) h.observe(durationMs / 1000);
  }

  /** `reason` must come from a fixed set (e.g. `ledger-append`, `pricing`). */
  tickError(reason: string): void {
    this.#tickErrors.add({ reason }, 1n);
  }

  /** Labels from cgroup/errors.ts's bounded CgroupResource and CgroupReadErrorCode. */
  cgroupReadError(resource: string, reason: string): void {
    this.#readErrors.add({ resource, reason }, 1n);
  }

  podWatchRestart(reason: 'error' | 'gone'): void {
    this.#watchRestarts.add({ reason }, 1n);
  }

  setPodWatchSynced(synced: boolean): void {
    this.#podWatchSynced = synced;
  }

  setLedgerState(state: { readonly bytes: bigint; readonly headSeq: bigint }): void {
    this.#ledgerBytes = state.bytes;
    this.#ledgerHeadSeq = state.headSeq;
  }

  ledgerAppended(entries: bigint): void {
    this.#ledgerEntries += entries;
  }

  /** Adds metrics defined elsewhere (GPU, sessions) to both exposition registries. */
  extend(define: (registry: Registry | Registry<OpenMetricsContentType>) => void): void {
    define(this.#registries.prometheus);
    define(this.#registries.openmetrics);
  }

  contentType(format: ExpositionFormat): string {
    return this.#registries[format].contentType;
  }

  render(format: ExpositionFormat): Promise<string> {
    return this.#registries[format].metrics();
  }

  #sweep(): void {
    const now = this.#now();
    for (const [key, series] of this.#pods) {
      if (series.removeAt !== undefined && series.removeAt <= now) this.#pods.delete(key);
    }
  }

  #define(registry: Registry | Registry<OpenMetricsContentType>): void {
    const registers = [registry];
    // Arrow functions keep the class's `this`; inside collect() `this` is the metric.
    const pods = (): Iterable<PodSeries> => {
      this.#sweep();
      return this.#pods.values();
    };
    const namespaces = (): Iterable<[string, Totals]> => this.#namespaces.entries();
    const nodeCpu = () => this.#nodeCpu.entries();
    const podWatchSynced = () => this.#podWatchSynced;
    const ledger = () => ({
      bytes: this.#ledgerBytes,
      headSeq: this.#ledgerHeadSeq,
      entries: this.#ledgerEntries,
    });
    const podCounter = (
      name: string,
      help: string,
      value: (t: Totals) => number,
      only?: (t: Totals) => boolean,
    ) =>
      new TotalsCounter(
        { name: `agentmeter_pod_${name}`, help, labelNames: ['namespace', 'pod'], registers },
        () => {
          const out: SeriesValue[] = [];
          for (const s of pods()) {
            if (!only || only(s.totals))
              out.push({ labels: { namespace: s.namespace, pod: s.pod }, value: value(s.totals) });
          }
          return out;
        },
      );
    const nsCounter = (
      name: string,
      help: string,
      value: (t: Totals) => number,
      only?: (t: Totals) => boolean,
    ) =>
      new TotalsCounter(
        { name: `agentmeter_namespace_${name}`, help, labelNames: ['namespace'], registers },
        () => {
          const out: SeriesValue[] = [];
          for (const [namespace, t] of namespaces())
            if (!only || only(t)) out.push({ labels: { namespace }, value: value(t) });
          return out;
        },
      );
    const directional = (
      scope: 'pod' | 'namespace',
      name: string,
      help: string,
      directions: Record<string, (t: Totals) => bigint>,
    ) =>
      new TotalsCounter(
        {
          name: `agentmeter_${scope}_${name}`,
          help,
          labelNames:
            scope === 'pod' ? ['namespace', 'pod', 'direction'] : ['namespace', 'direction'],
          registers,
        },
        () => {
          const out: SeriesValue[] = [];
          const each = Object.entries(directions);
          if (scope === 'pod') {
            for (const s of pods()) {
              for (const [direction, get] of each) {
                out.push({
                  labels: { namespace: s.namespace, pod: s.pod, direction },
                  value: Number(get(s.totals)),
                });
              }
            }
          } else {
            for (const [namespace, t] of namespaces()) {
              for (const [direction, get] of each) {
                out.push({ labels: { namespace, direction }, value: Number(get(t)) });
              }
            }
          }
          return out;
        },
      );
    const fromMap = <L extends string>(
      name: string,
      help: string,
      labelNames: L[],
      map: CountMap<L>,
    ) =>
      new Counter({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          for (const { labels, value } of map.entries())
            this.inc(labels as Partial<Record<L, string>>, Number(value));
        },
      });

    const cpuHelp = 'CPU time used, seconds (exact nanosecond totals, rendered as seconds).';
    const memHelp = 'Memory usage integrated over time, byte-seconds.';
    const rssHelp = 'RSS memory integrated over time, byte-seconds (when the cgroup exposes it).';
    const ioHelp = 'Block I/O, bytes, by direction (read|write).';
    const netHelp = 'Network traffic, bytes, by direction (receive|transmit).';
    const gpuAllocHelp = 'GPU time allocated, seconds (absent on GPU-less nodes).';
    const gpuActiveHelp = 'GPU time active, seconds (absent on GPU-less nodes).';
    const io = { read: (t: Totals) => t.ioReadBytes, write: (t: Totals) => t.ioWriteBytes };
    const net = { receive: (t: Totals) => t.netRxBytes, transmit: (t: Totals) => t.netTxBytes };
    const hasRss = (t: Totals) => t.memoryRssByteSeconds > 0n;
    const hasGpu = (t: Totals) => t.gpuAllocatedUs > 0n || t.gpuActiveUs > 0n;

    podCounter('cpu_usage_seconds_total', cpuHelp, (t) => toSeconds(t.cpuNs, NS_PER_S));
    podCounter('memory_byte_seconds_total', memHelp, (t) => Number(t.memoryByteSeconds));
    podCounter(
      'memory_rss_byte_seconds_total',
      rssHelp,
      (t) => Number(t.memoryRssByteSeconds),
      hasRss,
    );
    // Per-pod GPU series carry the GPU model and come from the GPU collector's own metrics.
    directional('pod', 'io_bytes_total', ioHelp, io);
    directional('pod', 'network_bytes_total', netHelp, net);
    nsCounter('cpu_usage_seconds_total', cpuHelp, (t) => toSeconds(t.cpuNs, NS_PER_S));
    nsCounter('memory_byte_seconds_total', memHelp, (t) => Number(t.memoryByteSeconds));
    nsCounter(
      'memory_rss_byte_seconds_total',
      rssHelp,
      (t) => Number(t.memoryRssByteSeconds),
      hasRss,
    );
    nsCounter(
      'gpu_allocated_seconds_total',
      gpuAllocHelp,
      (t) => toSeconds(t.gpuAllocatedUs, US_PER_S),
      hasGpu,
    );
    nsCounter(
      'gpu_active_seconds_total',
      gpuActiveHelp,
      (t) => toSeconds(t.gpuActiveUs, US_PER_S),
      hasGpu,
    );
    directional('namespace', 'io_bytes_total', ioHelp, io);
    directional('namespace', 'network_bytes_total', netHelp, net);

    new Counter({
      name: 'agentmeter_node_cpu_usage_seconds_total',
      help: 'Node CPU time, seconds, by scope: pods, non_pod (system, kubelet, runtime) and total.',
      labelNames: ['scope'],
      registers,
      collect() {
        this.reset();
        for (const { labels, value } of nodeCpu()) this.inc(labels, toSeconds(value, NS_PER_S));
      },
    });
    this.#tickHistograms.push(
      new Histogram({
        name: 'agentmeter_tick_duration_seconds',
        help: 'Time one sampling tick took, seconds.',
        buckets: TICK_BUCKETS,
        registers,
      }),
    );
    fromMap(
      'agentmeter_tick_errors_total',
      'Ticks that failed, by reason.',
      ['reason'],
      this.#tickErrors,
    );
    fromMap(
      'agentmeter_cgroup_read_errors_total',
      'Failed cgroup/proc reads, by resource and reason.',
      ['resource', 'reason'],
      this.#readErrors,
    );
    fromMap(
      'agentmeter_pod_watch_restarts_total',
      'Restarts of the pod watch: error (after backoff) or gone (410, relist).',
      ['reason'],
      this.#watchRestarts,
    );
    new Gauge({
      name: 'agentmeter_pod_watch_synced',
      help: '1 once the pod watch has completed its first list, else 0.',
      registers,
      collect() {
        this.set(podWatchSynced() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'agentmeter_ledger_bytes',
      help: 'Bytes the ledger occupies on disk.',
      registers,
      collect() {
        this.set(Number(ledger().bytes));
      },
    });
    new Gauge({
      name: 'agentmeter_ledger_head_seq',
      help: 'Sequence number of the last ledger entry.',
      registers,
      collect() {
        this.set(Number(ledger().headSeq));
      },
    });
    new Counter({
      name: 'agentmeter_ledger_entries_total',
      help: 'Ledger entries appended by this process.',
      registers,
      collect() {
        this.reset();
        this.inc(Number(ledger().entries));
      },
    });
  }
}
