import fc from 'fast-check';
import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { ExpositionFormat, Totals, TotalsFamily } from './totals-exposition.ts';
import {
  NAMESPACE_FAMILIES,
  POD_FAMILIES,
  labelText,
  renderTotals,
  zeroTotals,
} from './totals-exposition.ts';

interface Named {
  readonly labels: Record<string, string>;
  readonly totals: Totals;
}

/** What prom-client renders for the same families, filled through its own Counter API. */
async function promClientRendering(
  format: ExpositionFormat,
  pods: readonly Named[],
  namespaces: readonly Named[],
): Promise<string> {
  const registry = new Registry<typeof Registry.OPENMETRICS_CONTENT_TYPE>();
  if (format === 'openmetrics') registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  const register = (
    families: readonly TotalsFamily[],
    labelNames: readonly string[],
    series: readonly Named[],
  ): void => {
    for (const family of families) {
      const directional = family.columns.some((c) => c.direction !== undefined);
      const counter = new Counter({
        name: family.name,
        help: family.help,
        labelNames: directional ? [...labelNames, 'direction'] : labelNames,
        registers: [registry],
      });
      for (const s of series) {
        if (family.only !== undefined && !family.only(s.totals)) continue;
        for (const column of family.columns) {
          const labels =
            column.direction === undefined
              ? s.labels
              : { ...s.labels, direction: column.direction };
          counter.inc(labels, column.value(s.totals));
        }
      }
    }
  };
  register(POD_FAMILIES, ['namespace', 'pod'], pods);
  register(NAMESPACE_FAMILIES, ['namespace'], namespaces);
  return registry.metrics();
}

const bigTotal = fc.oneof(
  fc.constant(0n),
  fc.bigInt({ min: 0n, max: 2n ** 40n }),
  fc.bigInt({ min: 0n, max: 2n ** 72n }),
);
const totals = fc.record({
  cpuNs: bigTotal,
  memoryByteSeconds: bigTotal,
  memoryRssByteSeconds: bigTotal,
  ioReadBytes: bigTotal,
  ioWriteBytes: bigTotal,
  netRxBytes: bigTotal,
  netTxBytes: bigTotal,
  gpuAllocatedUs: bigTotal,
  gpuActiveUs: bigTotal,
});
// Label values that need every escape the formats have, and non-ASCII text.
const labelValue = fc.oneof(
  fc.string({ unit: fc.constantFrom('a', '-', '.', '"', '\\', '\n', 'é', '☃'), maxLength: 12 }),
  fc.string({ maxLength: 12 }),
);

describe('renderTotals', () => {
  it('renders byte for byte what prom-client renders for the same counters', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.record({ namespace: labelValue, pod: labelValue, totals }), {
          maxLength: 6,
          selector: (p) => `${p.namespace}/${p.pod}`,
        }),
        fc.uniqueArray(fc.record({ namespace: labelValue, totals }), {
          maxLength: 4,
          selector: (n) => n.namespace,
        }),
        fc.constantFrom<ExpositionFormat>('prometheus', 'openmetrics'),
        async (podRows, namespaceRows, format) => {
          const pods = podRows.map((p) => ({
            labels: { namespace: p.namespace, pod: p.pod },
            totals: p.totals,
          }));
          const namespaces = namespaceRows.map((n) => ({
            labels: { namespace: n.namespace },
            totals: n.totals,
          }));
          const ours = renderTotals(
            format,
            pods.map((p) => ({ labels: labelText(p.labels), totals: p.totals })),
            namespaces.map((n) => ({ labels: labelText(n.labels), totals: n.totals })),
          );
          const expected = await promClientRendering(format, pods, namespaces);
          expect(ours + (format === 'openmetrics' ? '\n# EOF\n' : '\n')).toBe(expected);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('leaves out RSS and GPU series of totals without that usage, keeping the family header', () => {
    const series = [{ labels: labelText({ namespace: 'a' }), totals: zeroTotals() }];
    const text = renderTotals('prometheus', [], series);
    expect(text).toContain('# TYPE agentmeter_namespace_gpu_active_seconds_total counter');
    expect(text).not.toContain('agentmeter_namespace_gpu_active_seconds_total{');
    expect(text).not.toContain('agentmeter_namespace_memory_rss_byte_seconds_total{');
    expect(text).toContain('agentmeter_namespace_memory_byte_seconds_total{namespace="a"} 0');
  });

  it('escapes backslash, double quote and newline in label values', () => {
    expect(labelText({ namespace: 'a"b\\c\nd', pod: 'p' })).toBe(
      'namespace="a\\"b\\\\c\\nd",pod="p"',
    );
  });
});
