// The segment store's decisions as plain data in, plain data out: what a crashed compaction
// left behind, where a torn tail is cut (or that it cannot be), which segments retention
// deletes, and which segment holds a seq. segment-store.ts does the I/O around them.
import { verifyChain } from '@agentmeter/crds';
import type { ChainHead, LedgerEntry } from '@agentmeter/crds';

/**
 * Compaction deletes whole closed segments, oldest first, and never the active segment or one
 * holding the latest checkpoint (the counter baseline). A segment goes when
 * - all its entries are acknowledged and its last entry is older than `minAgeNs` (kept a
 *   while so a failed-over operator with a slightly stale cursor can still re-read), or
 * - its last entry is older than `maxAgeNs`, or the ledger exceeds `maxBytes` — even when not
 *   acknowledged, so a missing operator cannot fill the node's disk. Dropped un-acked entries
 *   are recorded by an `unacked-dropped` marker and counted in stats().
 */
export interface RetentionPolicy {
  readonly minAgeNs: bigint;
  readonly maxAgeNs: bigint;
  readonly maxBytes: number;
}

const SEGMENT_NAME = /^segment-(\d{20})\.ndjson$/;

/** `segment-<seq of its first entry, 20 digits>.ndjson`: names sort in seq order. */
export function segmentName(first: bigint): string {
  return `segment-${first.toString().padStart(20, '0')}.ndjson`;
}

/** The first seq a segment file name stands for; undefined for any other file. */
export function segmentFirst(name: string): bigint | undefined {
  const match = SEGMENT_NAME.exec(name);
  return match === null ? undefined : BigInt(match[1] as string);
}

export function batchEnd(entry: LedgerEntry): bigint {
  return BigInt(entry.batch.first) + BigInt(entry.batch.size) - 1n;
}

/**
 * Segments (their first seqs, ascending) that a compaction which crashed between writing the
 * anchor and unlinking left behind: every leading one whose successor starts at or before
 * anchor + 1. The segment after them must start at anchor + 1, or the store is corrupt.
 */
export function leftBehindByCompaction(
  firsts: readonly bigint[],
  anchorSeq: bigint,
): { readonly count: number; readonly consistent: boolean } {
  let count = 0;
  while (count + 1 < firsts.length && (firsts[count + 1] as bigint) <= anchorSeq + 1n) count++;
  const oldest = firsts[count];
  return { count, consistent: oldest === undefined || oldest === anchorSeq + 1n };
}

/** One line of the active segment as read back: an entry, or why it is not one. */
export type TailLine =
  | { readonly kind: 'entry'; readonly entry: LedgerEntry }
  | { readonly kind: 'invalid'; readonly reason: string };

export type TailDecision =
  /** Every line is a verified entry and the last batch is complete. */
  | { readonly kind: 'intact' }
  /** Lines from `keep` on are the last batch, torn by a crash: truncate there. */
  | {
      readonly kind: 'cut';
      readonly keep: number;
      readonly fromSeq: bigint;
      readonly reason: string;
    }
  /** Not a torn write: tampering or media damage, which the store refuses to rewrite. */
  | { readonly kind: 'corrupt'; readonly detail: string; readonly seq?: bigint };

/**
 * Where to cut the active segment after a crash. Only the last batch can be torn — each earlier
 * one was fsynced before the next write began — so the first invalid line may go only with its
 * whole batch, and only when nothing after it belongs to a later batch. A batch cut short goes
 * entirely: half a tick would break exactly-once.
 */
export function tornTailDecision(
  lines: readonly TailLine[],
  first: bigint,
  prevHead: ChainHead,
): TailDecision {
  let invalidAt = lines.findIndex((line) => line.kind === 'invalid');
  if (invalidAt === -1) invalidAt = lines.length;
  const invalid = lines[invalidAt];
  let reason = invalid?.kind === 'invalid' ? invalid.reason : '';
  const entries = lines
    .slice(0, invalidAt)
    .map((line) => (line as { readonly entry: LedgerEntry }).entry);
  const check = verifyChain(entries, prevHead);
  if (!check.ok) {
    invalidAt = check.index;
    reason = `${check.reason}: ${check.detail}`;
  }
  const lastValid = entries[invalidAt - 1];
  let keep = invalidAt;
  if (lastValid !== undefined && batchEnd(lastValid) !== BigInt(lastValid.seq)) {
    keep = Number(BigInt(lastValid.batch.first) - first);
    if (invalidAt === lines.length) reason = 'last batch is incomplete';
  }
  if (keep === lines.length) return { kind: 'intact' };
  if (keep < 0) return { kind: 'corrupt', detail: 'a batch spans into this segment' };
  const fromSeq = first + BigInt(keep);
  const laterBatch = lines
    .slice(keep)
    .some((line) => line.kind === 'entry' && BigInt(line.entry.batch.first) !== fromSeq);
  if (laterBatch) {
    return {
      kind: 'corrupt',
      detail: `entry at line ${invalidAt + 1} is invalid (${reason}) but later batches follow it`,
      seq: first + BigInt(invalidAt),
    };
  }
  return { kind: 'cut', keep, fromSeq, reason };
}

/** A segment that is no longer written: its last entry is known. */
export interface ClosedSegment {
  readonly first: bigint;
  readonly bytes: number;
  readonly last: ChainHead;
  /** time.end of its last entry, unix ns. */
  readonly lastTime: bigint;
}

export interface CompactionInput {
  /** Oldest first; every segment but the active one. */
  readonly closed: readonly ClosedSegment[];
  /** Bytes of every segment, the active one included. */
  readonly totalBytes: number;
  readonly acked: bigint;
  readonly lastCheckpointSeq: bigint | null;
  readonly nowNs: bigint;
  readonly retention: RetentionPolicy;
}

export interface CompactionPlan {
  /** How many of the oldest closed segments to delete. */
  readonly delete: number;
  /** The new anchor: the last entry of the last deleted segment; null when none is deleted. */
  readonly anchor: ChainHead | null;
  /** Un-acknowledged entries that retention limits force out, if any. */
  readonly droppedUnacked: { readonly from: bigint; readonly to: bigint } | null;
}

/** Which segments retention deletes now (see RetentionPolicy). */
export function planCompaction(input: CompactionInput): CompactionPlan {
  const { retention, acked } = input;
  let totalBytes = input.totalBytes;
  let count = 0;
  let anchor: ChainHead | null = null;
  let from: bigint | null = null;
  let to = 0n;
  for (const segment of input.closed) {
    const last = segment.last.seq;
    if (input.lastCheckpointSeq !== null && last >= input.lastCheckpointSeq) break;
    const age = input.nowNs - segment.lastTime;
    const isAcked = last <= acked;
    const byAck = isAcked && age >= retention.minAgeNs;
    const forced = age > retention.maxAgeNs || totalBytes > retention.maxBytes;
    if (!byAck && !forced) break;
    if (!isAcked) {
      from ??= segment.first > acked ? segment.first : acked + 1n;
      to = last;
    }
    anchor = segment.last;
    totalBytes -= segment.bytes;
    count++;
  }
  return { delete: count, anchor, droppedUnacked: from === null ? null : { from, to } };
}

/** Index of the segment holding `seq`: the last one whose first seq is at most `seq`. */
export function segmentIndexFor(
  segments: readonly { readonly first: bigint }[],
  seq: bigint,
): number {
  let low = 0;
  let high = segments.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if ((segments[mid] as { first: bigint }).first <= seq) low = mid;
    else high = mid - 1;
  }
  return low;
}
