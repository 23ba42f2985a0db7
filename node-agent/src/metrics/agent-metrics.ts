// The agent's Prometheus metrics. Usage totals are kept here as exact BigInts and turned into
// floats only when a scrape renders them (the exposition format's values are floats).
//
// Two private registries hold the same metrics, one per exposition format: prom-client's
// OpenMetrics rendering permanently strips `_total` from a counter's name, so one metric
// object cannot serve both formats. Counters and gauges read the shared state in collect();
// only the histogram is observed twice.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { OpenMetricsContentType } from 'prom-client';
import { addUsageInto, type Usage } from '@agentmeter/crds';
import type { ExpositionFormat, TotalsSeries } from './totals-exposition.ts';
import { NS_PER_S, labelText, renderTotals, toSeconds, zeroTotals } from './totals-exposition.ts';

export type { ExpositionFormat } from './totals-exposition.ts';

export const PROMETHEUS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;
export const OPENMETRICS_CONTENT_TYPE = Registry.OPENMETRICS_CONTENT_TYPE;

/** Which CPU a node counter covers; pods + non_pod = total (design invariant 1). */
export type NodeCpuScope = 'pods' | 'non_pod' | 'total';

export interface AgentMetricsOptions {
  /** How long a gone pod's series stay exported, so the last increments get scraped. Default 5 min. */
  readonly podSeriesGraceMs?: number;
  readonly now?: () => number;
}

interface PodSeries extends TotalsSeries {
  removeAt: number | undefined;
}

const DEFAULT_GRACE_MS = 5 * 60_000;
const TICK_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

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
  readonly #namespaces = new Map<string, TotalsSeries>();
  readonly #nodeCpu = new CountMap<'scope'>(['scope']);
  readonly #tickErrors = new CountMap<'reason'>(['reason']);
  readonly #readErrors = new CountMap<'resource' | 'reason'>(['resource', 'reason']);
  readonly #watchRestarts = new CountMap<'reason'>(['reason']);
  readonly #tickHistograms: Histogram[] = [];
  #podWatchSynced = false;
  #ledgerBytes = 0n;
  #ledgerHeadSeq = 0n;
  #ledgerEntries = 0n;
  #heapCollections = 0n;

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
    if (!series) {
      const labels = labelText({ namespace, pod });
      this.#pods.set(key, (series = { labels, totals: zeroTotals(), removeAt: undefined }));
    }
    series.removeAt = undefined;
    addUsageInto(series.totals, usage);
    let ns = this.#namespaces.get(namespace);
    if (!ns) {
      ns = { labels: labelText({ namespace }), totals: zeroTotals() };
      this.#namespaces.set(namespace, ns);
    }
    addUsageInto(ns.totals, usage);
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

  /** The agent ran a full heap collection to keep its heap under the cap (runtime/heap-cap.ts). */
  heapCapCollected(): void {
    this.#heapCollections += 1n;
  }

  /** Adds metrics defined elsewhere (GPU, sessions) to both exposition registries. */
  extend(define: (registry: Registry | Registry<OpenMetricsContentType>) => void): void {
    define(this.#registries.prometheus);
    define(this.#registries.openmetrics);
  }

  contentType(format: ExpositionFormat): string {
    return this.#registries[format].contentType;
  }

  /** The usage families (rendered from the exact totals), then every registered metric. */
  async render(format: ExpositionFormat): Promise<string> {
    this.#sweep();
    const totals = renderTotals(format, [...this.#pods.values()], [...this.#namespaces.values()]);
    const rest = await this.#registries[format].metrics();
    return `${totals}${format === 'openmetrics' ? '\n' : '\n\n'}${rest}`;
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
    const nodeCpu = () => this.#nodeCpu.entries();
    const podWatchSynced = () => this.#podWatchSynced;
    const ledger = () => ({
      bytes: this.#ledgerBytes,
      headSeq: this.#ledgerHeadSeq,
      entries: this.#ledgerEntries,
    });
    const heapCollections = () => this.#heapCollections;
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
    new Counter({
      name: 'agentmeter_heap_cap_collections_total',
      help: 'Full heap collections the agent ran between ticks to keep its heap under --heap-cap.',
      registers,
      collect() {
        this.reset();
        this.inc(Number(heapCollections()));
      },
    });
  }
}
