// GPU series with the model label the agent's pod usage counters do not carry, plus the
// collector's error counter. Totals are exact BigInts until a scrape renders them as seconds.
// Labels are bounded: pods on this node × GPU models, devices on this node, and fixed reasons.
import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';
import type { GpuTickResult } from './attribute.ts';
import type { GpuError } from './errors.ts';

export interface PodNames {
  namespace: string;
  pod: string;
}

const US_PER_S = 1_000_000n;

function seconds(us: bigint): number {
  return Number(us / US_PER_S) + Number(us % US_PER_S) / Number(US_PER_S);
}

interface Entry<L extends string> {
  labels: Record<L, string>;
  allocatedUs: bigint;
  activeUs: bigint;
}

class Totals<L extends string> {
  readonly #entries = new Map<string, Entry<L>>();

  add(labels: Record<L, string>, allocatedUs: bigint, activeUs: bigint): void {
    const key = Object.values(labels).join('\u0000');
    const e = this.#entries.get(key);
    if (e === undefined) this.#entries.set(key, { labels: { ...labels }, allocatedUs, activeUs });
    else {
      e.allocatedUs += allocatedUs;
      e.activeUs += activeUs;
    }
  }

  values(): Iterable<Entry<L>> {
    return this.#entries.values();
  }
}

export class GpuMetrics {
  readonly #pods = new Totals<'namespace' | 'pod' | 'model'>();
  readonly #devices = new Totals<'device' | 'model' | 'sharing'>();
  readonly #unattributed = new Totals<'device' | 'model'>();
  readonly #errors = new Map<string, { source: string; reason: string; count: bigint }>();

  /** Adds one tick. `names` resolves a pod UID; pods it does not know are skipped. */
  addTick(result: GpuTickResult, names: (podUid: string) => PodNames | undefined): void {
    for (const p of result.pods) {
      const n = names(p.podUid);
      if (n !== undefined)
        this.#pods.add(
          { namespace: n.namespace, pod: n.pod, model: p.model },
          p.allocatedUs,
          p.activeUs,
        );
    }
    for (const d of result.devices)
      this.#devices.add(
        { device: d.key, model: d.model, sharing: d.sharing },
        d.allocatedUs,
        d.activeUs,
      );
    for (const u of result.unattributed)
      this.#unattributed.add({ device: u.key, model: u.model }, u.allocatedUs, u.activeUs);
  }

  /** Wire to GpuCollectorOptions.onError. */
  error(e: GpuError): void {
    const key = `${e.source}\u0000${e.reason}`;
    const entry = this.#errors.get(key);
    if (entry === undefined)
      this.#errors.set(key, { source: e.source, reason: e.reason, count: 1n });
    else entry.count++;
  }

  register(registry: Registry): void {
    const registers = [registry];
    const pair = <L extends string>(
      prefix: string,
      what: string,
      labelNames: L[],
      totals: Totals<L>,
    ): void => {
      for (const [kind, pick] of [
        ['allocated', (e: Entry<L>) => e.allocatedUs],
        ['active', (e: Entry<L>) => e.activeUs],
      ] as const) {
        new Counter({
          name: `agentmeter_${prefix}_gpu_${kind}_seconds_total`,
          help: `GPU time ${kind === 'allocated' ? 'held' : 'active (utilisation-weighted)'} ${what}, seconds.`,
          labelNames,
          registers,
          collect() {
            this.reset();
            for (const e of totals.values())
              this.inc(e.labels as Partial<Record<L, string>>, seconds(pick(e)));
          },
        });
      }
    };
    pair('pod', 'by a pod, per GPU model', ['namespace', 'pod', 'model'], this.#pods);
    pair(
      'device',
      'on a device (whole GPU or MIG instance)',
      ['device', 'model', 'sharing'],
      this.#devices,
    );
    pair(
      'unattributed',
      'on a device that no pod accounts for',
      ['device', 'model'],
      this.#unattributed,
    );
    const errors = this.#errors;
    new Counter({
      name: 'agentmeter_gpu_errors_total',
      help: 'GPU metering failures by source and reason (nvidia-smi, pod-resources, proc, dcgm).',
      labelNames: ['source', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const e of errors.values())
          this.inc({ source: e.source, reason: e.reason }, Number(e.count));
      },
    });
  }
}
