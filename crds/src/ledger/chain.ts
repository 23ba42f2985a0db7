import { createHash, hash as oneShotHash } from 'node:crypto';
import { canonicalSplit, canonicalize } from './canonical.ts';
import { canonicalSplitFast } from './canonical-fast-path.ts';
import { LedgerFormatError } from './errors.ts';
import { HASH_PATTERN } from './fields.ts';
import { parseEntry } from './parse.ts';
import { LEDGER_FORMAT_VERSION } from './types.ts';
import type { ChainHead, LedgerDraft, LedgerEntry } from './types.ts';

/**
 * sha256 hex of the canonical JSON of `entry` without its `hash` field. Accepts a sealed entry
 * too (its `hash` is ignored), so verifiers recompute from what they received.
 */
export function hashEntry(entry: object): string {
  // canonicalize omits undefined members, so this hashes the entry as if `hash` were absent.
  const unsealed = { ...entry, hash: undefined };
  return createHash('sha256').update(canonicalize(unsealed), 'utf8').digest('hex');
}

export interface BatchPosition {
  readonly first: bigint;
  readonly size: bigint;
}

/** An entry as sealed by the writer, with the line it is stored as. */
export interface SealedEntry {
  readonly entry: LedgerEntry;
  /** encodeEntry(entry): canonical JSON, without the newline. */
  readonly line: string;
}

/**
 * Turns a draft into entry `seq` chained after `prev`. `batch` defaults to a batch of one. The
 * result is run through parseEntry so a malformed draft fails here, at the writer, instead of
 * being written and refused later by the operator.
 */
export function sealEntry(
  draft: LedgerDraft,
  prev: string,
  seq: bigint,
  batch: BatchPosition = { first: seq, size: 1n },
): LedgerEntry {
  return sealEntryLine(draft, prev, seq, batch).entry;
}

/**
 * sealEntry, plus the stored line. The draft is serialised once: the hash covers the canonical
 * members, and the line is the same members with the hash inserted in its sorted place.
 */
export function sealEntryLine(
  draft: LedgerDraft,
  prev: string,
  seq: bigint,
  batch: BatchPosition = { first: seq, size: 1n },
): SealedEntry {
  if (!HASH_PATTERN.test(prev)) {
    throw new LedgerFormatError('$.prev', 'invalid-value', 'expected 64 lower-case hex digits');
  }
  const unsealed: Record<string, unknown> = {
    ...draft,
    v: LEDGER_FORMAT_VERSION,
    seq: seq.toString(),
    prev,
    batch: { first: batch.first.toString(), size: batch.size.toString() },
    hash: undefined,
  };
  const fast = canonicalSplitFast(unsealed);
  const [before, after] = fast ?? canonicalSplit(unsealed, 'hash');
  const comma = before !== '' && after !== '' ? ',' : '';
  // One call into the hash: a calls entry of a few calls is a few KB, and five updates cost
  // more than the hash itself (PERFORMANCE.md, the OTLP ingest path).
  const hash = oneShotHash('sha256', `{${before}${comma}${after}}`);
  unsealed.hash = hash;
  // The fast path has checked everything parseEntry checks.
  const entry = fast === undefined ? parseEntry(unsealed) : (unsealed as unknown as LedgerEntry);
  const hashMember = `"hash":"${hash}"`;
  const line = `{${before}${before === '' ? '' : ','}${hashMember}${after === '' ? '' : ','}${after}}`;
  return { entry, line };
}

/** The entry as stored: one line of canonical JSON, without the newline. */
export function encodeEntry(entry: LedgerEntry): string {
  return canonicalize(entry);
}

/**
 * Parses one stored line strictly: valid JSON, a valid v1 entry, and byte-for-byte canonical,
 * so no two different lines can carry the same entry. The hash is checked by verifyChain.
 */
export function decodeEntry(line: string): LedgerEntry {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (error) {
    throw new LedgerFormatError('$', 'not-json', (error as Error).message);
  }
  const entry = parseEntry(json);
  if (canonicalize(entry) !== line) {
    throw new LedgerFormatError(
      '$',
      'not-canonical',
      'line is not canonical JSON',
      BigInt(entry.seq),
    );
  }
  return entry;
}

export type ChainFailureReason =
  'seq-mismatch' | 'prev-mismatch' | 'hash-mismatch' | 'batch-mismatch' | 'node-mismatch';

export type ChainVerification =
  | {
      readonly ok: true;
      /** Last entry, or the anchor (or null without one) when `entries` is empty. */
      readonly head: ChainHead | null;
      /** False when the last entry is not the last of its batch. */
      readonly complete: boolean;
    }
  | {
      readonly ok: false;
      /** Index into `entries` of the first entry that does not verify. */
      readonly index: number;
      readonly seq: bigint;
      readonly reason: ChainFailureReason;
      readonly detail: string;
    };

function batchEnd(entry: LedgerEntry): bigint {
  return BigInt(entry.batch.first) + BigInt(entry.batch.size) - 1n;
}

/**
 * Verifies that `entries` (already parsed) form one unbroken chain: contiguous seqs, each
 * `prev` equal to the predecessor's hash, each hash recomputed, one node, and batches that
 * are never interleaved or cut short before a new batch starts. `anchor` is the entry just
 * before entries[0] (seq 0 / GENESIS_PREV for a ledger read from its start); without it the
 * first entry's seq and prev are taken on trust. The first entry may be in the middle of a
 * batch (a read may start anywhere); `complete` reports whether the last one ends its batch.
 */
export function verifyChain(
  entries: readonly LedgerEntry[],
  anchor?: ChainHead,
): ChainVerification {
  const first = entries[0];
  if (first === undefined) return { ok: true, head: anchor ?? null, complete: true };
  let expectedSeq = anchor === undefined ? BigInt(first.seq) : anchor.seq + 1n;
  let expectedPrev = anchor === undefined ? first.prev : anchor.hash;
  let previous: LedgerEntry | undefined;
  for (let index = 0; index < entries.length; index++) {
    const entry = entries[index] as LedgerEntry;
    const seq = BigInt(entry.seq);
    const fail = (reason: ChainFailureReason, detail: string): ChainVerification => ({
      ok: false,
      index,
      seq,
      reason,
      detail,
    });
    if (seq !== expectedSeq) return fail('seq-mismatch', `expected seq ${expectedSeq.toString()}`);
    if (entry.prev !== expectedPrev) return fail('prev-mismatch', `expected prev ${expectedPrev}`);
    const computed = hashEntry(entry);
    if (computed !== entry.hash) return fail('hash-mismatch', `content hashes to ${computed}`);
    if (entry.node !== first.node) return fail('node-mismatch', `expected node ${first.node}`);
    const batchFirst = BigInt(entry.batch.first);
    if (seq < batchFirst || seq > batchEnd(entry)) {
      return fail('batch-mismatch', 'seq outside its own batch');
    }
    if (previous !== undefined) {
      const previousClosed = BigInt(previous.seq) === batchEnd(previous);
      if (previousClosed && batchFirst !== seq) {
        return fail('batch-mismatch', 'a batch must start at its first seq');
      }
      if (
        !previousClosed &&
        (entry.batch.first !== previous.batch.first || entry.batch.size !== previous.batch.size)
      ) {
        return fail('batch-mismatch', `batch ${previous.batch.first} is cut short`);
      }
    }
    previous = entry;
    expectedSeq = seq + 1n;
    expectedPrev = entry.hash;
  }
  const last = previous as LedgerEntry;
  return {
    ok: true,
    head: { seq: BigInt(last.seq), hash: last.hash },
    complete: BigInt(last.seq) === batchEnd(last),
  };
}
