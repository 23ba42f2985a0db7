import { describe, expect, it } from 'vitest';
import { sealEntry } from '../../crds/src/ledger/chain.ts';
import { draft, podUsage } from '../../crds/src/ledger/fixtures.ts';
import { GENESIS_PREV, type LedgerBody, type LedgerEntry } from '../../crds/src/ledger/types.ts';
import { cursorSeq, ledgerSpendNano, spendPolicy } from './spend.ts';

const policy = (name: string) => ({ name, generation: '1' });

function chain(bodies: readonly LedgerBody[]): LedgerEntry[] {
  let prev = GENESIS_PREV;
  return bodies.map((body, i) => {
    const entry = sealEntry(draft(body), prev, BigInt(i + 1), {
      first: 1n,
      size: BigInt(bodies.length),
    });
    prev = entry.hash;
    return entry;
  });
}

const priced = (i: number, name: string, totalNano: string): LedgerBody =>
  podUsage(i, {
    cost: { currency: 'USD', policy: policy(name), totalNano, bySession: [] },
    priced: true,
  });

const tokens = (name: string, totalNano: string): LedgerBody => ({
  kind: 'tokens',
  time: { start: '1700000000000000000', end: '1700000001000000000' },
  tick: 't9',
  session: { namespace: 'agents', id: 's1' },
  pod: { uid: 'u9', namespace: 'agents', name: 'p9' },
  models: [{ model: 'gpt-4o', inputTokens: '10', outputTokens: '5' }],
  cost: { currency: 'USD', policy: policy(name), totalNano },
  priced: true,
});

describe('the demo total', () => {
  const entries = chain([
    priced(1, 'demo', '1000000001'),
    podUsage(2),
    tokens('demo', '7'),
    priced(4, 'other', '500'),
    priced(5, 'demo', '3'),
  ]);

  /** The entries' ticks end at 1700000001 s or later; these policies predate them. */
  const demo = { name: 'demo', currency: 'USD', createdMs: 1_699_999_000_000 };
  const other = { ...demo, name: 'other' };

  it("sums the policy's pod and token costs up to the cursor, exactly", () => {
    expect(ledgerSpendNano(entries, demo, 5n)).toBe(1000000011n);
    expect(ledgerSpendNano(entries, demo, 4n)).toBe(1000000008n);
    expect(ledgerSpendNano(entries, other, 5n)).toBe(500n);
    expect(ledgerSpendNano(entries, demo, 0n)).toBe(0n);
  });

  it('leaves out what an earlier policy of the same name or another currency priced, as the operator does', () => {
    // Created after every entry was measured: none of them is this policy's spend.
    expect(ledgerSpendNano(entries, { ...demo, createdMs: 1_800_000_000_000 }, 5n)).toBe(0n);
    expect(ledgerSpendNano(entries, { ...demo, currency: 'EUR' }, 5n)).toBe(0n);
  });

  it("identifies a policy by its object's name, currency and creationTimestamp", () => {
    const p = spendPolicy({
      metadata: { name: 'demo', creationTimestamp: '2026-12-07T18:25:53Z' },
      spec: { currency: 'USD' },
    });
    expect(p).toEqual({
      name: 'demo',
      currency: 'USD',
      createdMs: Date.UTC(2026, 11, 7, 18, 25, 53),
    });
  });

  it("reads the node's cursor from status.collection.cursors", () => {
    const cursors = 'node-a 41 ab12\nvm 17 cd34';
    expect(cursorSeq(cursors, 'vm')).toBe(17n);
    expect(cursorSeq(cursors, 'node-a')).toBe(41n);
    expect(cursorSeq(cursors, 'node-b')).toBeUndefined();
    expect(cursorSeq(undefined, 'vm')).toBeUndefined();
  });
});
