// What this node knows of each session so far: usage, tokens and cost from every written batch,
// for `/v1/sessions/{namespace}/{id}`. The ledger is the durable record; this is its running
// sum since the agent started, bounded so a flood of short sessions cannot exhaust memory.
import { addUsage, zeroUsage, type SessionRef, type Usage } from '@agentmeter/crds';
import type { TickBatch } from '../batches/tick-batcher.ts';

export interface SessionModelTokens {
  inputTokens: bigint;
  outputTokens: bigint;
}

export interface SessionRecord {
  readonly session: SessionRef;
  usage: Usage;
  tokens: Map<string, SessionModelTokens>;
  /** Cost in integer nano-units per currency: infrastructure and tokens. */
  infraNano: Map<string, bigint>;
  tokenNano: Map<string, bigint>;
  pods: Map<string, { namespace: string; name: string }>;
  firstSeenNs: bigint;
  lastSeenNs: bigint;
}

function add(map: Map<string, bigint>, key: string, by: bigint): void {
  map.set(key, (map.get(key) ?? 0n) + by);
}

export class SessionBook {
  readonly #sessions = new Map<string, SessionRecord>();
  readonly #maxSessions: number;
  #ledgerSeq = 0n;

  constructor(options: { maxSessions?: number } = {}) {
    this.#maxSessions = options.maxSessions ?? 100_000;
  }

  #record(session: SessionRef, atNs: bigint): SessionRecord {
    const key = `${session.namespace}/${session.id}`;
    let record = this.#sessions.get(key);
    if (record === undefined) {
      record = {
        session,
        usage: zeroUsage(),
        tokens: new Map(),
        infraNano: new Map(),
        tokenNano: new Map(),
        pods: new Map(),
        firstSeenNs: atNs,
        lastSeenNs: atNs,
      };
      if (this.#sessions.size >= this.#maxSessions) {
        // Least recently active first: a Map iterates in insertion order and records are
        // re-inserted when they are touched.
        const oldest = this.#sessions.keys().next().value;
        if (oldest !== undefined) this.#sessions.delete(oldest);
      }
    } else {
      this.#sessions.delete(key);
    }
    this.#sessions.set(key, record);
    if (atNs > record.lastSeenNs) record.lastSeenNs = atNs;
    return record;
  }

  /** Adds a written batch; `lastSeq` is the ledger seq of its last entry. */
  apply(batch: TickBatch, atNs: bigint, lastSeq: bigint): void {
    this.#ledgerSeq = lastSeq;
    for (const share of batch.shares) {
      if (share.session === null) continue;
      const zero = Object.values(share.usage).every((v) => v === 0n);
      if (zero && share.costNano === 0n) continue;
      const record = this.#record(share.session, atNs);
      record.usage = addUsage(record.usage, share.usage);
      record.pods.set(share.meta.uid, { namespace: share.meta.namespace, name: share.meta.name });
      if (share.currency !== null) add(record.infraNano, share.currency, share.costNano);
    }
    for (const t of batch.tokens) {
      if (t.session === null) continue;
      const record = this.#record(t.session, atNs);
      const tokens = record.tokens.get(t.model) ?? { inputTokens: 0n, outputTokens: 0n };
      tokens.inputTokens += t.inputTokens;
      tokens.outputTokens += t.outputTokens;
      record.tokens.set(t.model, tokens);
      record.pods.set(t.meta.uid, { namespace: t.meta.namespace, name: t.meta.name });
      if (t.currency !== null) add(record.tokenNano, t.currency, t.costNano);
    }
  }

  /** Ledger seq of the last batch applied: every record sums the ledger up to here, no further. */
  get ledgerSeq(): bigint {
    return this.#ledgerSeq;
  }

  get(namespace: string, id: string): SessionRecord | undefined {
    return this.#sessions.get(`${namespace}/${id}`);
  }

  /** Sessions active since `sinceNs`, per namespace (for the bounded `sessions_active` gauge). */
  activeByNamespace(sinceNs: bigint): Map<string, number> {
    const out = new Map<string, number>();
    for (const record of this.#sessions.values()) {
      if (record.lastSeenNs >= sinceNs) {
        out.set(record.session.namespace, (out.get(record.session.namespace) ?? 0) + 1);
      }
    }
    return out;
  }

  get size(): number {
    return this.#sessions.size;
  }
}
