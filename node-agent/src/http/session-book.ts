// What this node knows of each session so far: usage, calls and cost from every written batch,
// for `/v1/sessions/{namespace}/{id}`. The ledger is the durable record; this is its running
// sum since the agent started, bounded so a flood of short sessions cannot exhaust memory.
// Calls are summed per model, tool and API host (names of the session's own calls: bounded by
// what one session calls), never kept one by one.
import {
  addUsage,
  zeroUsage,
  type CallRecord,
  type SessionRef,
  type Usage,
} from '@agentmeter/crds';
import type { TickBatch } from '../batches/tick-batcher.ts';

export interface SessionModelTokens {
  calls: bigint;
  inputTokens: bigint;
  outputTokens: bigint;
  cacheReadTokens: bigint;
  cacheCreationTokens: bigint;
  reasoningTokens: bigint;
}

/** Calls of one model, tool or host: how many, how many unpriced, and their cost. */
export interface CallSums {
  calls: bigint;
  unpriced: bigint;
  /** Per currency. */
  costNano: Map<string, bigint>;
}

export interface SessionRecord {
  readonly session: SessionRef;
  usage: Usage;
  /** By model (`unknown` when the span named none). */
  tokens: Map<string, SessionModelTokens>;
  /** Calls by kind, then by model, tool name or API host. */
  calls: { model: Map<string, CallSums>; tool: Map<string, CallSums>; api: Map<string, CallSums> };
  /** Cost in integer nano-units per currency: infrastructure, and calls (tokens, tools, APIs). */
  infraNano: Map<string, bigint>;
  callNano: Map<string, bigint>;
  pods: Map<string, { namespace: string; name: string }>;
  /**
   * Ledger seqs of the entries with this session's share or calls, oldest first, the most
   * recent MAX_ENTRY_SEQS of them: `/calls` reads the calls and the infrastructure share from
   * the same entries, so both cover the same time.
   */
  entrySeqs: number[];
  /** Entries dropped from entrySeqs (the oldest), so a reader knows the list is partial. */
  droppedEntrySeqs: number;
  firstSeenNs: bigint;
  lastSeenNs: bigint;
}

function add(map: Map<string, bigint>, key: string, by: bigint): void {
  map.set(key, (map.get(key) ?? 0n) + by);
}

export const UNKNOWN_MODEL = 'unknown';
export const MAX_ENTRY_SEQS = 4096;

function addSeq(record: SessionRecord, seq: number): void {
  if (record.entrySeqs.at(-1) === seq) return;
  record.entrySeqs.push(seq);
  if (record.entrySeqs.length > MAX_ENTRY_SEQS) {
    record.entrySeqs.shift();
    record.droppedEntrySeqs++;
  }
}

/** The name a call is summed under within its kind. */
export function callSubject(call: CallRecord): string {
  if (call.kind === 'tool') return call.tool?.name ?? UNKNOWN_MODEL;
  if (call.kind === 'api') return call.apiHost ?? UNKNOWN_MODEL;
  return call.model ?? UNKNOWN_MODEL;
}

function addCall(record: SessionRecord, call: CallRecord, currency: string | null): void {
  const byName = record.calls[call.kind];
  const name = callSubject(call);
  let sums = byName.get(name);
  if (sums === undefined) {
    sums = { calls: 0n, unpriced: 0n, costNano: new Map() };
    byName.set(name, sums);
  }
  sums.calls += 1n;
  if (call.costNano === null || currency === null) sums.unpriced += 1n;
  else {
    add(sums.costNano, currency, BigInt(call.costNano));
    add(record.callNano, currency, BigInt(call.costNano));
  }
  const t = call.tokens;
  if (t === null) return;
  let tokens = record.tokens.get(name);
  if (tokens === undefined) {
    tokens = {
      calls: 0n,
      inputTokens: 0n,
      outputTokens: 0n,
      cacheReadTokens: 0n,
      cacheCreationTokens: 0n,
      reasoningTokens: 0n,
    };
    record.tokens.set(name, tokens);
  }
  tokens.calls += 1n;
  tokens.inputTokens += BigInt(t.input);
  tokens.outputTokens += BigInt(t.output);
  tokens.cacheReadTokens += BigInt(t.cacheRead);
  tokens.cacheCreationTokens += BigInt(t.cacheCreation);
  tokens.reasoningTokens += BigInt(t.reasoning);
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
        calls: { model: new Map(), tool: new Map(), api: new Map() },
        infraNano: new Map(),
        callNano: new Map(),
        pods: new Map(),
        entrySeqs: [],
        droppedEntrySeqs: 0,
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
    // The batch was appended whole: its bodies hold the seqs up to lastSeq, in order.
    const firstSeq = Number(lastSeq) - batch.bodies.length + 1;
    batch.bodies.forEach((body, i) => {
      if (body.kind === 'calls' && body.session !== null) {
        addSeq(this.#record(body.session, atNs), firstSeq + i);
      } else if (body.kind === 'pod-usage') {
        for (const share of body.cost?.bySession ?? []) {
          if (share.session !== null && share.totalNano !== '0') {
            addSeq(this.#record(share.session, atNs), firstSeq + i);
          }
        }
      }
    });
    for (const share of batch.shares) {
      if (share.session === null) continue;
      const zero = Object.values(share.usage).every((v) => v === 0n);
      if (zero && share.costNano === 0n) continue;
      const record = this.#record(share.session, atNs);
      record.usage = addUsage(record.usage, share.usage);
      record.pods.set(share.meta.uid, { namespace: share.meta.namespace, name: share.meta.name });
      if (share.currency !== null) add(record.infraNano, share.currency, share.costNano);
    }
    for (const group of batch.calls) {
      if (group.session === null) continue;
      const record = this.#record(group.session, atNs);
      record.pods.set(group.pod.uid, { namespace: group.pod.namespace, name: group.pod.name });
      for (const call of group.calls) addCall(record, call, group.currency);
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
