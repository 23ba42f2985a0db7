// The per-pod and per-namespace usage counters in the exposition formats, rendered straight
// from the agent's exact totals. At 250 pods these are ~1750 series; going through prom-client's
// per-series formatting (label objects, escaping, joins) cost ~8 ms of CPU and ~4 MB of garbage
// per scrape (test/bench/agent-overhead.ts). Here each series' label text is escaped once, when
// the series is created, and a scrape only appends `name{labels} value` lines. The output is
// byte for byte what prom-client renders for the same counters (totals-exposition.test.ts), and
// prom-client still renders every other metric and owns the content types.
import type { Usage } from '@agentmeter/crds';

export type Totals = { -readonly [K in keyof Usage]-?: bigint };

export function zeroTotals(): Totals {
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

/** One labelled set of totals: a pod (`namespace`, `pod`) or a namespace. */
export interface TotalsSeries {
  /** Its labels in exposition syntax, e.g. `namespace="a",pod="p"`, from {@link labelText}. */
  readonly labels: string;
  readonly totals: Totals;
}

export type ExpositionFormat = 'prometheus' | 'openmetrics';

/** `name="value",…` with the exposition format's escapes (backslash, double quote, newline). */
export function labelText(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels)
    .map(([name, value]) => `${name}="${escapeLabelValue(value)}"`)
    .join(',');
}

/**
 * The pod families, then the namespace families, in the exposition format: each with its HELP
 * and TYPE lines, families separated as prom-client separates them. No trailing newline or EOF
 * marker: the caller joins this with the rest of the registry's output.
 */
export function renderTotals(
  format: ExpositionFormat,
  pods: readonly TotalsSeries[],
  namespaces: readonly TotalsSeries[],
): string {
  const parts: string[] = [];
  for (const family of POD_FAMILIES) parts.push(renderFamily(format, family, pods));
  for (const family of NAMESPACE_FAMILIES) parts.push(renderFamily(format, family, namespaces));
  return parts.join(format === 'openmetrics' ? '\n' : '\n\n');
}

/** One sample per series, with a `direction` label when the family has several. */
export interface Column {
  readonly direction?: string;
  readonly value: (t: Totals) => number;
}

export interface TotalsFamily {
  /** Full sample name, ending in `_total`. */
  readonly name: string;
  readonly help: string;
  readonly columns: readonly Column[];
  /** Series without usage of this kind are left out (RSS and GPU are not on every node). */
  readonly only?: (t: Totals) => boolean;
}

function renderFamily(
  format: ExpositionFormat,
  family: TotalsFamily,
  series: readonly TotalsSeries[],
): string {
  // OpenMetrics names the counter family without `_total` and its samples with it.
  const head = format === 'openmetrics' ? family.name.slice(0, -'_total'.length) : family.name;
  let text = `# HELP ${head} ${family.help}\n# TYPE ${head} counter`;
  const { name, columns, only } = family;
  const extra = columns.map((c) =>
    c.direction === undefined ? '' : `,direction="${c.direction}"`,
  );
  for (let j = 0; j < series.length; j++) {
    const s = series[j] as TotalsSeries;
    if (only !== undefined && !only(s.totals)) continue;
    for (let i = 0; i < columns.length; i++) {
      const value = (columns[i] as Column).value(s.totals);
      text += `\n${name}{${s.labels}${extra[i] as string}} ${value}`;
    }
  }
  return text;
}

export const NS_PER_S = 1_000_000_000n;
const US_PER_S = 1_000_000n;

/** Exact integer units → seconds, splitting off the whole part so large totals keep precision. */
export function toSeconds(value: bigint, perSecond: bigint): number {
  return Number(value / perSecond) + Number(value % perSecond) / Number(perSecond);
}

const cpuSeconds = (t: Totals): number => toSeconds(t.cpuNs, NS_PER_S);
const memory = (t: Totals): number => Number(t.memoryByteSeconds);
const rss = (t: Totals): number => Number(t.memoryRssByteSeconds);
const hasRss = (t: Totals): boolean => t.memoryRssByteSeconds > 0n;
const hasGpu = (t: Totals): boolean => t.gpuAllocatedUs > 0n || t.gpuActiveUs > 0n;

const one = (value: (t: Totals) => number): Column[] => [{ value }];
const IO: Column[] = [
  { direction: 'read', value: (t) => Number(t.ioReadBytes) },
  { direction: 'write', value: (t) => Number(t.ioWriteBytes) },
];
const NET: Column[] = [
  { direction: 'receive', value: (t) => Number(t.netRxBytes) },
  { direction: 'transmit', value: (t) => Number(t.netTxBytes) },
];

const HELP = {
  cpu: 'CPU time used, seconds (exact nanosecond totals, rendered as seconds).',
  memory: 'Memory usage integrated over time, byte-seconds.',
  rss: 'RSS memory integrated over time, byte-seconds (when the cgroup exposes it).',
  io: 'Block I/O, bytes, by direction (read|write).',
  net: 'Network traffic, bytes, by direction (receive|transmit).',
  gpuAllocated: 'GPU time allocated, seconds (absent on GPU-less nodes).',
  gpuActive: 'GPU time active, seconds (absent on GPU-less nodes).',
};

// Per-pod GPU series carry the GPU model and come from the GPU collector's own metrics.
export const POD_FAMILIES: readonly TotalsFamily[] = [
  { name: 'agentmeter_pod_cpu_usage_seconds_total', help: HELP.cpu, columns: one(cpuSeconds) },
  { name: 'agentmeter_pod_memory_byte_seconds_total', help: HELP.memory, columns: one(memory) },
  {
    name: 'agentmeter_pod_memory_rss_byte_seconds_total',
    help: HELP.rss,
    columns: one(rss),
    only: hasRss,
  },
  { name: 'agentmeter_pod_io_bytes_total', help: HELP.io, columns: IO },
  { name: 'agentmeter_pod_network_bytes_total', help: HELP.net, columns: NET },
];

export const NAMESPACE_FAMILIES: readonly TotalsFamily[] = [
  {
    name: 'agentmeter_namespace_cpu_usage_seconds_total',
    help: HELP.cpu,
    columns: one(cpuSeconds),
  },
  {
    name: 'agentmeter_namespace_memory_byte_seconds_total',
    help: HELP.memory,
    columns: one(memory),
  },
  {
    name: 'agentmeter_namespace_memory_rss_byte_seconds_total',
    help: HELP.rss,
    columns: one(rss),
    only: hasRss,
  },
  {
    name: 'agentmeter_namespace_gpu_allocated_seconds_total',
    help: HELP.gpuAllocated,
    columns: one((t) => toSeconds(t.gpuAllocatedUs, US_PER_S)),
    only: hasGpu,
  },
  {
    name: 'agentmeter_namespace_gpu_active_seconds_total',
    help: HELP.gpuActive,
    columns: one((t) => toSeconds(t.gpuActiveUs, US_PER_S)),
    only: hasGpu,
  },
  { name: 'agentmeter_namespace_io_bytes_total', help: HELP.io, columns: IO },
  { name: 'agentmeter_namespace_network_bytes_total', help: HELP.net, columns: NET },
];

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}
