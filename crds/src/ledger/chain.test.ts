import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeEntry,
  encodeEntry,
  hashEntry,
  sealEntry,
  sealEntryLine,
  verifyChain,
} from './chain.ts';
import { LedgerFormatError } from './errors.ts';
import { buildChain, draft, podUsage, sampleBodies } from './fixtures.ts';
import { GENESIS_PREV } from './types.ts';
import type { LedgerEntry } from './types.ts';

describe('sealEntryLine', () => {
  it('writes the line encodeEntry would, with the hash hashEntry computes, for every kind', () => {
    let prev = GENESIS_PREV;
    for (const [index, body] of sampleBodies().entries()) {
      const seq = BigInt(index + 1);
      const { entry, line } = sealEntryLine(draft(body), prev, seq);
      expect(line).toBe(encodeEntry(entry));
      expect(entry.hash).toBe(hashEntry(entry));
      expect(decodeEntry(line)).toEqual(entry);
      expect(sealEntry(draft(body), prev, seq)).toEqual(entry);
      prev = entry.hash;
    }
  });
});

/** Index of the first line that fails to decode or to verify, or -1. */
function firstBadLine(text: Buffer): number {
  const lines = text.toString('utf8').split('\n');
  lines.pop(); // text ends with a newline
  const entries: LedgerEntry[] = [];
  for (const [index, line] of lines.entries()) {
    try {
      entries.push(decodeEntry(line));
    } catch (error) {
      if (error instanceof LedgerFormatError) return index;
      throw error;
    }
  }
  const check = verifyChain(entries, { seq: 0n, hash: GENESIS_PREV });
  return check.ok ? -1 : check.index;
}

describe('sealEntry and verifyChain', () => {
  it('seals every kind and verifies the chain from genesis', () => {
    let prev = GENESIS_PREV;
    const entries = sampleBodies().map((body, i) => {
      const entry = sealEntry(draft(body), prev, BigInt(i + 1));
      prev = entry.hash;
      return entry;
    });
    const check = verifyChain(entries, { seq: 0n, hash: GENESIS_PREV });
    expect(check).toEqual({
      ok: true,
      head: { seq: BigInt(entries.length), hash: prev },
      complete: true,
    });
    for (const entry of entries) {
      expect(decodeEntry(encodeEntry(entry))).toEqual(entry);
      expect(hashEntry(entry)).toBe(entry.hash);
    }
  });

  it('reports an open batch at the end and accepts a read that starts mid-batch', () => {
    const entries = buildChain([3, 3]);
    expect(verifyChain(entries.slice(0, 4))).toMatchObject({ ok: true, complete: false });
    expect(verifyChain(entries.slice(1))).toMatchObject({ ok: true, complete: true });
  });

  it('refuses a batch cut short by the start of another', () => {
    const a = buildChain([3]);
    const spliced = sealEntry(draft(podUsage(9)), (a[1] as LedgerEntry).hash, 3n, {
      first: 3n,
      size: 1n,
    });
    expect(verifyChain([a[0] as LedgerEntry, a[1] as LedgerEntry, spliced])).toMatchObject({
      ok: false,
      index: 2,
      reason: 'batch-mismatch',
    });
  });

  it('detects any single-byte tamper at the tampered line', () => {
    const entries = buildChain([2, 3, 1, 4]);
    const text = Buffer.from(entries.map((e) => `${encodeEntry(e)}\n`).join(''), 'utf8');
    expect(firstBadLine(text)).toBe(-1);
    fc.assert(
      fc.property(fc.nat(text.length - 2), fc.integer({ min: 1, max: 255 }), (offset, xor) => {
        const tampered = Buffer.from(text);
        tampered[offset] = (tampered[offset] as number) ^ xor;
        const line = text.subarray(0, offset).filter((byte) => byte === 0x0a).length;
        expect(firstBadLine(tampered)).toBe(line);
      }),
      { numRuns: 2000 },
    );
  });

  it('detects reordering and deletion at the first displaced entry', () => {
    const entries = buildChain([2, 3, 1, 4]);
    fc.assert(
      fc.property(fc.nat(entries.length - 1), fc.nat(entries.length - 1), (i, j) => {
        fc.pre(i !== j);
        const swapped = [...entries];
        [swapped[i], swapped[j]] = [swapped[j] as LedgerEntry, swapped[i] as LedgerEntry];
        expect(verifyChain(swapped, { seq: 0n, hash: GENESIS_PREV })).toMatchObject({
          ok: false,
          index: Math.min(i, j),
        });
      }),
    );
    fc.assert(
      fc.property(fc.nat(entries.length - 2), (i) => {
        const deleted = entries.filter((_, k) => k !== i);
        expect(verifyChain(deleted, { seq: 0n, hash: GENESIS_PREV })).toMatchObject({
          ok: false,
          index: i,
          reason: 'seq-mismatch',
        });
      }),
    );
  });

  it('detects a chain that does not continue from the anchor', () => {
    const entries = buildChain([2, 2]);
    expect(verifyChain(entries.slice(2), { seq: 2n, hash: GENESIS_PREV })).toMatchObject({
      ok: false,
      index: 0,
      reason: 'prev-mismatch',
    });
    expect(
      verifyChain(entries.slice(2), { seq: 2n, hash: (entries[1] as LedgerEntry).hash }),
    ).toMatchObject({
      ok: true,
    });
  });

  it('refuses a line that is valid JSON but not canonical', () => {
    const entry = buildChain([1])[0] as LedgerEntry;
    const pretty = JSON.stringify(entry, null, 1);
    expect(() => decodeEntry(pretty)).toThrow(expect.objectContaining({ reason: 'not-canonical' }));
  });
});
