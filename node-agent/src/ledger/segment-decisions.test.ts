import { GENESIS_PREV } from '@agentmeter/crds';
import type { ChainHead, LedgerEntry } from '@agentmeter/crds';
import { describe, expect, it } from 'vitest';
import { buildChain } from '../../../crds/src/ledger/fixtures.ts';
import {
  leftBehindByCompaction,
  planCompaction,
  segmentFirst,
  segmentIndexFor,
  segmentName,
  tornTailDecision,
} from './segment-decisions.ts';
import type { ClosedSegment, CompactionInput, TailLine } from './segment-decisions.ts';

const GENESIS: ChainHead = { seq: 0n, hash: GENESIS_PREV };

const asLines = (entries: readonly LedgerEntry[]): TailLine[] =>
  entries.map((entry) => ({ kind: 'entry', entry }));
const INVALID: TailLine = { kind: 'invalid', reason: 'last line has no newline' };

describe('segment file names', () => {
  it.each([
    [1n, 'segment-00000000000000000001.ndjson'],
    [18_446_744_073_709_551_615n, 'segment-18446744073709551615.ndjson'],
  ])('names the segment starting at %s %s and reads the name back', (first, name) => {
    expect(segmentName(first)).toBe(name);
    expect(segmentFirst(name)).toBe(first);
  });

  it.each(['anchor.json', 'segment-1.ndjson', 'segment-00000000000000000001.ndjson.tmp'])(
    'ignores %s',
    (name) => expect(segmentFirst(name)).toBeUndefined(),
  );
});

describe('leftBehindByCompaction', () => {
  it.each([
    { firsts: [], anchor: 0n, count: 0, consistent: true },
    { firsts: [1n], anchor: 0n, count: 0, consistent: true },
    { firsts: [1n, 11n, 21n], anchor: 0n, count: 0, consistent: true },
    // The anchor moved to 20 but segments 1 and 11 were not yet unlinked.
    { firsts: [1n, 11n, 21n], anchor: 20n, count: 2, consistent: true },
    { firsts: [1n, 11n, 21n], anchor: 10n, count: 1, consistent: true },
    // The active segment is never left behind, even past the anchor.
    { firsts: [21n], anchor: 20n, count: 0, consistent: true },
    // A gap: the oldest remaining segment does not continue the anchor.
    { firsts: [1n, 11n, 21n], anchor: 15n, count: 1, consistent: false },
    { firsts: [5n], anchor: 0n, count: 0, consistent: false },
  ])('segments $firsts, anchor $anchor: $count left behind', ({ firsts, anchor, ...want }) => {
    expect(leftBehindByCompaction(firsts, anchor)).toEqual(want);
  });
});

describe('tornTailDecision', () => {
  const entries = buildChain([2, 3]); // seqs 1-2, then 3-5
  const tampered = { ...(entries[1] as LedgerEntry), hash: 'f'.repeat(64) };

  it.each<{ name: string; lines: TailLine[]; want: unknown }>([
    { name: 'an empty segment', lines: [], want: { kind: 'intact' } },
    { name: 'complete batches', lines: asLines(entries), want: { kind: 'intact' } },
    {
      name: 'a last batch cut short',
      lines: asLines(entries.slice(0, 4)),
      want: { kind: 'cut', keep: 2, fromSeq: 3n, reason: 'last batch is incomplete' },
    },
    {
      name: 'an unterminated line in the last batch',
      lines: [...asLines(entries.slice(0, 3)), INVALID],
      want: { kind: 'cut', keep: 2, fromSeq: 3n, reason: 'last line has no newline' },
    },
    {
      name: 'an unterminated line right after a complete batch',
      lines: [...asLines(entries.slice(0, 2)), INVALID],
      want: { kind: 'cut', keep: 2, fromSeq: 3n, reason: 'last line has no newline' },
    },
    {
      name: 'an invalid line followed by the rest of its own batch',
      lines: [...asLines(entries.slice(0, 2)), INVALID, ...asLines(entries.slice(3))],
      want: { kind: 'cut', keep: 2, fromSeq: 3n, reason: 'last line has no newline' },
    },
    {
      name: 'an invalid line followed by a later batch',
      lines: [INVALID, ...asLines(entries.slice(2))],
      want: {
        kind: 'corrupt',
        detail: 'entry at line 1 is invalid (last line has no newline) but later batches follow it',
        seq: 1n,
      },
    },
    {
      name: 'a hash that does not verify, in the first of two batches',
      lines: asLines([entries[0] as LedgerEntry, tampered, ...entries.slice(2)]),
      want: { kind: 'corrupt', seq: 2n },
    },
  ])('$name', ({ lines, want }) => {
    expect(tornTailDecision(lines, 1n, GENESIS)).toMatchObject(want as object);
  });

  it('refuses a segment that starts inside a batch', () => {
    // The segment starts at seq 4, but its first line belongs to the batch that began at 3.
    const lines = asLines(entries.slice(3, 4));
    const prevHead = { seq: 3n, hash: (entries[2] as LedgerEntry).hash };
    expect(tornTailDecision(lines, 4n, prevHead)).toEqual({
      kind: 'corrupt',
      detail: 'a batch spans into this segment',
    });
  });

  it('checks the link to the previous segment', () => {
    const decision = tornTailDecision(asLines(entries), 1n, { seq: 0n, hash: 'a'.repeat(64) });
    expect(decision).toMatchObject({ kind: 'corrupt', seq: 1n });
  });
});

describe('planCompaction', () => {
  const HOUR = 3600n * 1_000_000_000n;
  const retention = { minAgeNs: HOUR, maxAgeNs: 24n * HOUR, maxBytes: 1000 };
  /** Closed segments of 10 entries and 100 bytes each, their last entries ending at `times`. */
  const closed = (times: readonly bigint[]): ClosedSegment[] =>
    times.map((lastTime, i) => ({
      first: BigInt(i * 10 + 1),
      bytes: 100,
      last: { seq: BigInt(i * 10 + 10), hash: String(i).repeat(64) },
      lastTime,
    }));
  const now = 100n * HOUR;
  const base: CompactionInput = {
    closed: closed([now - 3n * HOUR, now - 2n * HOUR, now]),
    totalBytes: 400,
    acked: 30n,
    lastCheckpointSeq: null,
    nowNs: now,
    retention,
  };

  it.each<{ name: string; input: Partial<CompactionInput>; delete: number; dropped?: unknown }>([
    { name: 'acknowledged and old enough', input: {}, delete: 2 },
    { name: 'nothing acknowledged, within limits', input: { acked: 0n }, delete: 0 },
    { name: 'acknowledged only up to the first', input: { acked: 15n }, delete: 1 },
    {
      name: 'stops before the segment holding the latest checkpoint',
      input: { lastCheckpointSeq: 20n },
      delete: 1,
    },
    {
      name: 'over the byte limit, not acknowledged',
      input: { acked: 5n, totalBytes: 1150 },
      delete: 2,
      dropped: { from: 6n, to: 20n },
    },
    {
      name: 'older than the maximum age, not acknowledged',
      input: { acked: 0n, nowNs: now + 23n * HOUR },
      delete: 2,
      dropped: { from: 1n, to: 20n },
    },
    { name: 'no closed segments', input: { closed: [] }, delete: 0 },
  ])('$name: deletes $delete', ({ input, delete: count, dropped }) => {
    const merged = { ...base, ...input };
    const plan = planCompaction(merged);
    expect(plan.delete).toBe(count);
    expect(plan.anchor).toEqual(count === 0 ? null : merged.closed[count - 1]?.last);
    expect(plan.droppedUnacked).toEqual(dropped ?? null);
  });
});

describe('segmentIndexFor', () => {
  const segments = [{ first: 1n }, { first: 11n }, { first: 21n }];
  it.each([
    [1n, 0],
    [10n, 0],
    [11n, 1],
    [20n, 1],
    [21n, 2],
    [1000n, 2],
  ])('seq %s is in segment %i', (seq, index) => {
    expect(segmentIndexFor(segments, seq)).toBe(index);
  });
});
