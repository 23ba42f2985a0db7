// Per-namespace attribution, cost, call and token metrics. Labels stay bounded (invariant 7):
// the namespace, whether usage went to a session or stayed unattributed, the currency, the call
// kind and unpriced reason (fixed sets), and the model only when a policy prices it by name
// (else `other`). Session, trace, tool-call ids, tool names and hosts never appear.
import { Counter, Gauge } from 'prom-client';
import { LabelSums, sumsCounter, type AnyRegistry } from './label-sums.ts';
import type { IngestCounters } from '../sessions/index.ts';
import type { TickBatch } from '../batches/tick-batcher.ts';

const NS = 1_000_000_000n;

/** The `kind` of agentmeter_namespace_cost_total a call's cost is counted under. */
const COST_KIND = { model: 'tokens', tool: 'tools', api: 'apis' } as const;

export class AttributionMetrics {
  readonly #cpu = new LabelSums();
  readonly #memory = new LabelSums();
  readonly #cost = new LabelSums();
  readonly #tokens = new LabelSums();
  readonly #calls = new LabelSums();
  readonly #unpriced = new LabelSums();
  readonly #ingest: () => IngestCounters;
  readonly #late: () => number;
  readonly #active: () => Map<string, number>;
  readonly #models: () => ReadonlySet<string>;
  readonly #dedupe: () => { keys: number; bytes: number };

  constructor(options: {
    ingest: () => IngestCounters;
    lateSpans: () => number;
    activeSessions: () => Map<string, number>;
    pricedModels: () => ReadonlySet<string>;
    /** Size of the call dedupe set (calls/dedupe.ts). */
    dedupe: () => { keys: number; bytes: number };
  }) {
    this.#dedupe = options.dedupe;
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
    for (const group of batch.calls) {
      const namespace = group.pod.namespace;
      const attribution = group.session === null ? 'unattributed' : 'session';
      for (const call of group.calls) {
        this.#calls.add({ namespace, kind: call.kind });
        if (call.unpriced !== null) {
          this.#unpriced.add({ namespace, kind: call.kind, reason: call.unpriced });
        }
        if (call.costNano !== null && group.currency !== null) {
          this.#cost.add(
            { namespace, attribution, currency: group.currency, kind: COST_KIND[call.kind] },
            BigInt(call.costNano),
          );
        }
        const t = call.tokens;
        if (t === null) continue;
        const model = call.model !== null && models.has(call.model) ? call.model : 'other';
        const base = { namespace, model };
        this.#tokens.add({ ...base, token_type: 'input' }, BigInt(t.input));
        this.#tokens.add({ ...base, token_type: 'output' }, BigInt(t.output));
        this.#tokens.add({ ...base, token_type: 'cache_read' }, BigInt(t.cacheRead));
        this.#tokens.add({ ...base, token_type: 'cache_creation' }, BigInt(t.cacheCreation));
        this.#tokens.add({ ...base, token_type: 'reasoning' }, BigInt(t.reasoning));
      }
    }
  }

  register(registry: AnyRegistry): void {
    const registers = [registry];
    const ingestCounters = this.#ingest;
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
      'Cost charged to the namespace in currency units, by attribution and kind (infrastructure|tokens|tools|apis).',
      ['namespace', 'attribution', 'currency', 'kind'],
      this.#cost,
      NS,
    );
    fromSums(
      'agentmeter_genai_tokens_total',
      'Tokens used by the namespace, by model (priced models, else other) and token type (input|output|cache_read|cache_creation|reasoning; input includes cached, output includes reasoning).',
      ['namespace', 'model', 'token_type'],
      this.#tokens,
      1n,
    );
    fromSums(
      'agentmeter_calls_total',
      'Leaf calls recorded in the ledger, by namespace and kind (model|tool|api), each counted once.',
      ['namespace', 'kind'],
      this.#calls,
      1n,
    );
    fromSums(
      'agentmeter_calls_unpriced_total',
      'Calls recorded without a cost, by namespace, kind and reason (no-policy|no-model-rate|no-tool-rate|no-api-rate).',
      ['namespace', 'kind', 'reason'],
      this.#unpriced,
      1n,
    );
    const dedupe = this.#dedupe;
    new Counter({
      name: 'agentmeter_calls_duplicate_total',
      help: 'Calls received again (exporter retries, duplicate spans, one tool call id twice) and not counted again.',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(ingestCounters().duplicateCalls);
      },
    });
    new Counter({
      name: 'agentmeter_tool_args_hash_ignored_total',
      help: 'Tool spans whose agentmeter.tool.arguments_hash was not a lower-case hex sha256 (hash_malformed) or whose gen_ai.tool.call.arguments was not a string (arguments_not_a_string); the call is counted without that hash.',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [reason, n] of ingestCounters().argsHashIgnored) this.inc({ reason }, n);
      },
    });
    new Gauge({
      name: 'agentmeter_call_dedupe_keys',
      help: 'Keys in the call dedupe set (span ids and tool call ids of calls in its window).',
      registers: [registry],
      collect() {
        this.set(dedupe().keys);
      },
    });
    new Gauge({
      name: 'agentmeter_call_dedupe_bytes',
      help: 'Bytes the call dedupe set holds.',
      registers: [registry],
      collect() {
        this.set(dedupe().bytes);
      },
    });
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
