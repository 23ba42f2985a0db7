// Exactly once: a call is claimed by its (namespace, trace id, span id), and by its
// (namespace, gen_ai.tool.call.id) when it has one, so a retried export, a span sent twice, or a
// tool call seen both as `execute_tool` and as its MCP `tools/call` counts once. Keys live in
// buckets by the span's END time, not its arrival: a duplicate carries the same end time, so it
// finds its original as long as that is inside the window, and a call ending before the window
// is refused (the exporter is told) rather than counted without the check. Keys are scoped by
// namespace so one tenant cannot suppress another's calls with copied ids.
//
// Durable across restarts without a file of its own: the ledger is the record of what was
// counted (write first), and at start the set is rebuilt from the calls entries of the window
// (markWritten). A crash between the write and the mark therefore loses no mark.
import { hash } from 'node:crypto';
import { FingerprintSet } from './fingerprint-set.ts';

export interface CallIdentity {
  readonly namespace: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly callId: string | null;
  readonly endNs: bigint;
}

export type Claim = 'new' | 'duplicate' | 'stale';

/** Buckets per window: expiry frees memory in steps of a sixtieth of it. */
const BUCKETS = 60n;

function fingerprint(key: string): [number, number] {
  const digest = hash('sha256', key, 'buffer');
  const hi = digest.readUInt32LE(0);
  const lo = digest.readUInt32LE(4);
  // 0/0 marks an empty slot; a digest starting with 64 zero bits is remapped.
  return hi === 0 && lo === 0 ? [0, 1] : [hi, lo];
}

function spanKey(c: CallIdentity): string {
  return `s\n${c.namespace}\n${c.traceId}${c.spanId}`;
}

function callIdKey(namespace: string, callId: string): string {
  return `c\n${namespace}\n${callId}`;
}

export class CallDedupe {
  readonly windowNs: bigint;
  readonly #bucketNs: bigint;
  /** By bucket index (end time / bucket width): a number, cheaper to hash than a bigint. */
  readonly #buckets = new Map<number, FingerprintSet>();
  #oldest = -1;

  constructor(options: { windowNs: bigint }) {
    if (options.windowNs < BUCKETS) throw new RangeError('dedupe window too short');
    this.windowNs = options.windowNs;
    this.#bucketNs = options.windowNs / BUCKETS;
  }

  /** Claims a call seen now: 'new' the first time in the window (and marks it). */
  claim(call: CallIdentity, nowNs: bigint): Claim {
    this.expire(nowNs);
    if (call.endNs < nowNs - this.windowNs) return 'stale';
    const index = Number(call.endNs / this.#bucketNs);
    const span = fingerprint(spanKey(call));
    if (this.#buckets.get(index)?.has(span[0], span[1]) === true) return 'duplicate';
    const id = call.callId === null ? null : fingerprint(callIdKey(call.namespace, call.callId));
    if (id !== null) {
      for (const b of this.#buckets.values()) if (b.has(id[0], id[1])) return 'duplicate';
    }
    this.#mark(index, span, id);
    return 'new';
  }

  /** Marks a call already in the ledger (the rebuild at start), without checks. */
  markWritten(call: CallIdentity): void {
    const id = call.callId === null ? null : fingerprint(callIdKey(call.namespace, call.callId));
    this.#mark(Number(call.endNs / this.#bucketNs), fingerprint(spanKey(call)), id);
  }

  #mark(index: number, span: [number, number], id: [number, number] | null): void {
    let bucket = this.#buckets.get(index);
    if (bucket === undefined) {
      bucket = new FingerprintSet();
      this.#buckets.set(index, bucket);
    }
    bucket.add(span[0], span[1]);
    if (id !== null) bucket.add(id[0], id[1]);
  }

  /** Drops the buckets that ended before the window. */
  expire(nowNs: bigint): void {
    const oldest = Number((nowNs - this.windowNs) / this.#bucketNs);
    if (oldest <= this.#oldest) return;
    this.#oldest = oldest;
    for (const index of this.#buckets.keys()) if (index < oldest) this.#buckets.delete(index);
  }

  get keys(): number {
    let n = 0;
    for (const b of this.#buckets.values()) n += b.size;
    return n;
  }

  get bytes(): number {
    let n = 0;
    for (const b of this.#buckets.values()) n += b.bytes;
    return n;
  }
}
