// Exactly once, by the rule of @agentmeter/crds (callKeys, isDuplicateCall): a call is claimed
// by its (namespace, trace id, span id), and by its (namespace, gen_ai.tool.call.id) when it has
// one, so a retried export, a span sent twice, or a tool call seen both as `execute_tool` and as
// its MCP `tools/call` counts once. This is the rule's storage for the agent: 64-bit fingerprints
// of the keys in buckets by the span's END time, not its arrival. A duplicate carries the same
// end time, so it finds its original as long as that is inside the window, and a call ending
// before the window is refused (the exporter is told) rather than counted without the check.
//
// Durable across restarts without a file of its own: the ledger is the record of what was
// counted (write first), and at start the set is rebuilt from the calls entries of the window
// (markWritten). A crash between the write and the mark therefore loses no mark.
import { hash } from 'node:crypto';
import { callKeys, isDuplicateCall, type CallIdentity as KeyedCall } from '@agentmeter/crds';
import { FingerprintSet } from './fingerprint-set.ts';

export interface CallIdentity extends KeyedCall {
  readonly endNs: bigint;
}

export type Claim = 'new' | 'duplicate' | 'stale';

/** Buckets per window: expiry frees memory in steps of a sixtieth of it. */
const BUCKETS = 60n;

/** A key as stored: its 64-bit fingerprint, and for a span key the bucket of the span's end. */
interface StoredKey {
  readonly hi: number;
  readonly lo: number;
  /** A duplicate span ends at the same instant, so its key is looked up in that bucket only. */
  readonly bucket: number | null;
}

/** Bytes `at`..`at + 3` of a latin1 string (one char per byte), little-endian. */
function uint32LE(bytes: string, at: number): number {
  return (
    (bytes.charCodeAt(at) |
      (bytes.charCodeAt(at + 1) << 8) |
      (bytes.charCodeAt(at + 2) << 16) |
      (bytes.charCodeAt(at + 3) << 24)) >>>
    0
  );
}

function stored(key: string, bucket: number | null): StoredKey {
  // The digest as a latin1 ('binary') string, not a Buffer: a Buffer's backing store cost
  // three times the hash itself (PERFORMANCE.md, the OTLP ingest path).
  const digest = hash('sha256', key, 'binary');
  const hi = uint32LE(digest, 0);
  const lo = uint32LE(digest, 4);
  // 0/0 marks an empty slot; a digest starting with 64 zero bits is remapped.
  return hi === 0 && lo === 0 ? { hi: 0, lo: 1, bucket } : { hi, lo, bucket };
}

export class CallDedupe {
  readonly windowNs: bigint;
  readonly #bucketNs: bigint;
  /** By bucket index (end time / bucket width): a number, cheaper to hash than a bigint. */
  readonly #buckets = new Map<number, FingerprintSet>();
  #oldest = -1;
  /** The seen keys of the whole window, as the shared rule reads them. */
  readonly #seen = {
    has: ({ hi, lo, bucket }: StoredKey): boolean => {
      if (bucket !== null) return this.#buckets.get(bucket)?.has(hi, lo) === true;
      for (const b of this.#buckets.values()) if (b.has(hi, lo)) return true;
      return false;
    },
  };

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
    const keys = this.#keys(call, index);
    if (isDuplicateCall(this.#seen, keys)) return 'duplicate';
    this.#mark(index, keys);
    return 'new';
  }

  /** Marks a call already in the ledger (the rebuild at start), without checks. */
  markWritten(call: CallIdentity): void {
    const index = Number(call.endNs / this.#bucketNs);
    this.#mark(index, this.#keys(call, index));
  }

  /** The rule's keys (the span's first), stored in the bucket of the span's end. */
  #keys(call: CallIdentity, index: number): StoredKey[] {
    return callKeys(call).map((key, i) => stored(key, i === 0 ? index : null));
  }

  #mark(index: number, keys: readonly StoredKey[]): void {
    let bucket = this.#buckets.get(index);
    if (bucket === undefined) {
      bucket = new FingerprintSet();
      this.#buckets.set(index, bucket);
    }
    for (const { hi, lo } of keys) bucket.add(hi, lo);
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
