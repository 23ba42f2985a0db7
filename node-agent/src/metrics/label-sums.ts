// Exact sums per label set, rendered as prom-client counters only when scraped: the state stays
// integers (bigint), and a float appears only at the exposition edge.
import { Counter, type Registry } from 'prom-client';
import type { OpenMetricsContentType } from 'prom-client';

export type AnyRegistry = Registry | Registry<OpenMetricsContentType>;

export class LabelSums {
  readonly #values = new Map<string, { labels: Record<string, string>; value: bigint }>();

  add(labels: Record<string, string>, by = 1n): void {
    const key = Object.values(labels).join('\u0000');
    const entry = this.#values.get(key);
    if (entry) entry.value += by;
    else this.#values.set(key, { labels, value: by });
  }

  entries(): Iterable<{ labels: Record<string, string>; value: bigint }> {
    return this.#values.values();
  }
}

/** Integer sub-units → a float only here, at the exposition edge, keeping the whole part exact. */
export function scaled(value: bigint, per: bigint): number {
  return Number(value / per) + Number(value % per) / Number(per);
}

/** A counter that reports `sums` (divided by `per`) at each scrape. */
export function sumsCounter(
  registry: AnyRegistry,
  metric: { name: string; help: string; labelNames: string[] },
  sums: LabelSums,
  per = 1n,
): Counter {
  return new Counter({
    ...metric,
    registers: [registry],
    collect() {
      this.reset();
      for (const { labels, value } of sums.entries()) this.inc(labels, scaled(value, per));
    },
  });
}
