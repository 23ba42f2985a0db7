// Per-namespace attribution, cost and token metrics. Labels stay bounded (invariant 7): the
// namespace, whether usage went to a session or stayed unattributed, the currency, and the model
// only when a policy prices it by name (else `other`). Session and trace ids never appear.
import { Counter, Gauge } from 'prom-client';
import { LabelSums, sumsCounter, type AnyRegistry } from './label-sums.ts';
import type { IngestCounters } from '../sessions/index.ts';
import type { TickBatch } from '../batches/tick-batcher.ts';

const NS = 1_000_000_000n;

export class AttributionMetrics {
  readonly #cpu = new LabelSums();
  readonly #memory = new LabelSums();
  readonly #cost = new LabelSums();
  readonly #tokens = new LabelSums();
  readonly #ingest: () => IngestCounters;
  readonly #late: () => number;
  readonly #active: () => Map<string, number>;
  readonly #models: () => ReadonlySet<string>;

  constructor(options: {
    ingest: () => IngestCounters;
    lateSpans: () => number;
    activeSessions: () => Map<string, number>;
    pricedModels: () => ReadonlySet<string>;
  }) {
    this.#ingest = options.ingest;
    this.#late = options.lateSpans;
    this.#active = options.activeSessions;
    this.#models = options.pricedModels;
  }

  addBatch(batch: TickBatch): void {
    const models = this.#models();
    for (const share of batch.shares) {
      const labels = {
        namespace: share.meta.namespace,
        attribution: share.session === null ? 'unattributed' : 'session',
      };
      this.#cpu.add(labels, share.usage.cpuNs);
      this.#memory.add(labels, share.usage.memoryByteSeconds);
      if (share.currency !== null) {
        this.#cost.add(
          { ...labels, currency: share.currency, kind: 'infrastructure' },
          share.costNano,
        );
      }
    }
    for (const t of batch.tokens) {
      const model = models.has(t.model) ? t.model : 'other';
      const base = { namespace: t.meta.namespace, model };
      this.#tokens.add({ ...base, token_type: 'input' }, t.inputTokens);
      this.#tokens.add({ ...base, token_type: 'output' }, t.outputTokens);
      if (t.currency !== null) {
        this.#cost.add(
          {
            namespace: t.meta.namespace,
            attribution: t.session === null ? 'unattributed' : 'session',
            currency: t.currency,
            kind: 'tokens',
          },
          t.costNano,
        );
      }
    }
  }

  register(registry: AnyRegistry): void {
    const registers = [registry];
    const fromSums = (
      name: string,
      help: string,
      labelNames: string[],
      sums: LabelSums,
      per: bigint,
    ) => sumsCounter(registry, { name, help, labelNames }, sums, per);
    fromSums(
      'agentmeter_namespace_attributed_cpu_seconds_total',
      'CPU time of pods in the namespace, seconds, by whether a session was charged for it.',
      ['namespace', 'attribution'],
      this.#cpu,
      NS,
    );
    fromSums(
      'agentmeter_namespace_attributed_memory_byte_seconds_total',
      'Memory of pods in the namespace, byte-seconds, by whether a session was charged for it.',
      ['namespace', 'attribution'],
      this.#memory,
      1n,
    );
    fromSums(
      'agentmeter_namespace_cost_total',
      'Cost charged to the namespace in currency units, by attribution and kind (infrastructure|tokens).',
      ['namespace', 'attribution', 'currency', 'kind'],
      this.#cost,
      NS,
    );
    fromSums(
      'agentmeter_genai_tokens_total',
      'Tokens used by the namespace, by model (priced models, else other) and token type.',
      ['namespace', 'model', 'token_type'],
      this.#tokens,
      1n,
    );
    const ingest = this.#ingest;
    const late = this.#late;
    const active = this.#active;
    new Counter({
      name: 'agentmeter_spans_received_total',
      help: 'OTLP spans received, by result (accepted|rejected).',
      labelNames: ['result'],
      registers,
      collect() {
        this.reset();
        const c = ingest();
        let rejected = 0;
        for (const n of c.rejected.values()) rejected += n;
        this.inc({ result: 'accepted' }, c.accepted);
        this.inc({ result: 'rejected' }, rejected);
      },
    });
    new Counter({
      name: 'agentmeter_spans_rejected_total',
      help: 'OTLP spans rejected, by reason.',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of ingest().rejected) this.inc({ reason }, n);
      },
    });
    new Counter({
      name: 'agentmeter_late_spans_total',
      help: 'Spans that arrived after their tick was settled (counted for tokens only).',
      registers,
      collect() {
        this.reset();
        this.inc(late());
      },
    });
    new Counter({
      name: 'agentmeter_identity_unverified_total',
      help: 'Spans accepted without a verified pod identity.',
      registers,
      collect() {
        this.reset();
        this.inc(ingest().unverified);
      },
    });
    new Counter({
      name: 'agentmeter_session_conflicts_total',
      help: 'Spans naming another session than their exclusive pod\u2019s annotation.',
      registers,
      collect() {
        this.reset();
        this.inc(ingest().exclusiveConflicts);
      },
    });
    new Gauge({
      name: 'agentmeter_sessions_active',
      help: 'Sessions with usage on this node in the last 5 minutes, per namespace.',
      labelNames: ['namespace'],
      registers,
      collect() {
        this.reset();
        for (const [namespace, n] of active()) this.set({ namespace }, n);
      },
    });
  }
}
