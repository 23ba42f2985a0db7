import { beforeAll, describe, expect, it } from 'vitest';
import type { Budget, LedgerEntry } from '@agentmeter/crds';
import { PolicyFold, reducePolicy } from './accumulate.ts';
import type { NodeChain } from './accumulate.ts';
import { decodeState, emptyState, encodeState } from './state.ts';
import { gzipSync } from 'node:zlib';
import { budgets, leafCall, callsEntryBody, chainOf, podBody, view } from './test-ledger.ts';

const T0 = Date.parse('2026-05-10T12:00:00Z');
const GENESIS = (node: string) => ({ node, seq: 0n, hash: '0'.repeat(64) });

function chain(node: string, entries: LedgerEntry[], from = GENESIS(node)): NodeChain {
  return { node, anchor: from, entries };
}

describe('reducePolicy', () => {
  const a = chainOf('a', [
    podBody({ namespace: 'n1', nano: 100n, atMs: T0, session: 's1' }),
    podBody({ namespace: 'n2', nano: 50n, atMs: T0 }),
    podBody({ namespace: 'n1', nano: 7n, atMs: T0, policy: 'other' }),
    podBody({ namespace: 'n1', nano: 9n, atMs: T0, policy: null }),
  ]);
  const b = chainOf('b', [podBody({ namespace: 'n2', nano: 1000n, atMs: T0 })]);

  it('counts only entries priced by the policy, once per scope', () => {
    const r = reducePolicy(emptyState(), [], [chain('a', a), chain('b', b)], view, T0);
    expect(r.state.budgets.get('all')?.sums.get('*')).toBe(1150n);
    expect(r.state.budgets.get('ns')?.sums).toEqual(
      new Map([
        ['n1', 100n],
        ['n2', 1050n],
      ]),
    );
    expect(r.state.budgets.get('sess')?.sums).toEqual(new Map([['n1/s1', 100n]]));
    expect(r.cursors).toEqual([
      { node: 'a', seq: 4n, hash: a[3]?.hash },
      { node: 'b', seq: 1n, hash: b[0]?.hash },
    ]);
    expect(r.counted).toBe(3);
  });

  it('never counts twice when the same or overlapping pages come again', () => {
    const once = reducePolicy(emptyState(), [], [chain('a', a)], view, T0);
    const state = decodeState(encodeState(once.state));
    const again = reducePolicy(state, once.cursors, [chain('a', a)], view, T0);
    expect(again.counted).toBe(0);
    expect(again.state.budgets.get('all')?.sums.get('*')).toBe(150n);
    // A page starting in the middle (another policy's lower cursor) applies only the tail.
    const more = chainOf('a', [podBody({ namespace: 'n1', nano: 5n, atMs: T0 })], a[3]);
    const tail = reducePolicy(
      state,
      once.cursors,
      [chain('a', [...a.slice(2), ...more], { node: 'a', seq: 2n, hash: a[1]?.hash ?? '' })],
      view,
      T0,
    );
    expect(tail.state.budgets.get('all')?.sums.get('*')).toBe(155n);
  });

  it('is the same whether pulled in one page or many', () => {
    const whole = reducePolicy(emptyState(), [], [chain('a', a)], view, T0);
    let s = emptyState();
    let cursors = whole.cursors.slice(0, 0);
    for (let i = 0; i < a.length; i++) {
      const from =
        i === 0 ? GENESIS('a') : { node: 'a', seq: BigInt(i), hash: a[i - 1]?.hash ?? '' };
      const r = reducePolicy(s, cursors, [chain('a', a.slice(i, i + 1), from)], view, T0);
      s = r.state;
      cursors = r.cursors;
    }
    expect(encodeState(s)).toBe(encodeState(whole.state));
  });

  it('refuses a chain that does not continue from the cursor hash', () => {
    const once = reducePolicy(emptyState(), [], [chain('a', a.slice(0, 2))], view, T0);
    const forged = chainOf('a', [
      podBody({ namespace: 'n9', nano: 1n, atMs: T0 }),
      podBody({ namespace: 'n9', nano: 1n, atMs: T0 }),
    ]);
    const r = reducePolicy(once.state, once.cursors, [chain('a', forged)], view, T0);
    expect(r.mismatches[0]?.reason).toBe('fork');
    expect(r.counted).toBe(0);
    expect(r.cursors).toEqual(once.cursors);
  });

  it('closes a period when the clock passes its end, splitting entries by their time', () => {
    const first = reducePolicy(emptyState(), [], [chain('a', a.slice(0, 1))], view, T0);
    const nextDay = Date.parse('2026-05-11T12:00:00Z');
    const tail = chainOf('a', [podBody({ namespace: 'n1', nano: 3n, atMs: nextDay - 1000 })], a[0]);
    const r = reducePolicy(
      first.state,
      first.cursors,
      [chain('a', tail, { node: 'a', seq: 1n, hash: a[0]?.hash ?? '' })],
      view,
      nextDay,
    );
    const closed = r.state.closing.find((c) => c.spec === 'Daily/Europe/Berlin');
    expect(closed?.namespaces.get('n1')?.cost.cpu).toBe(100n);
    expect(r.state.budgets.get('ns')?.sums.get('n1')).toBe(3n);
    // The monthly budget keeps counting across the day boundary.
    expect(r.state.budgets.get('all')?.sums.get('*')).toBe(103n);
  });

  it('records each session once per report period it was counted into, outside the state', () => {
    const twice = chainOf('a', [
      podBody({ namespace: 'n1', nano: 100n, atMs: T0, session: 's1' }),
      podBody({ namespace: 'n1', nano: 5n, atMs: T0 + 1000, session: 's1' }),
    ]);
    const first = reducePolicy(emptyState(), [], [chain('a', twice)], view, T0);
    const opened = (r: typeof first, spec: string) => r.state.reports.get(spec)?.start;
    const specs = ['Daily/Europe/Berlin', 'Monthly/UTC', 'Weekly/UTC'];
    expect(first.periodSessions.sort((x, y) => (x.spec < y.spec ? -1 : 1))).toEqual(
      specs.map((spec) => ({ spec, start: opened(first, spec), key: 'n1/s1' })),
    );
    // The session sets are not part of the state the store carries from round to round.
    expect(decodeState(encodeState(first.state)).carried).toBeUndefined();

    // The day closes: an entry of s2 after the day's end is counted into the new day's period.
    const nextDay = Date.parse('2026-05-11T12:00:00Z');
    const tail = chainOf(
      'a',
      [podBody({ namespace: 'n1', nano: 3n, atMs: nextDay - 1000, session: 's2' })],
      twice[1],
    );
    const r = reducePolicy(
      first.state,
      first.cursors,
      [chain('a', tail, { node: 'a', seq: 2n, hash: twice[1]?.hash ?? '' })],
      view,
      nextDay,
    );
    const daily = r.periodSessions.find((x) => x.spec === 'Daily/Europe/Berlin');
    const closed = r.state.closing.find((c) => c.spec === 'Daily/Europe/Berlin');
    expect(daily).toEqual({
      spec: 'Daily/Europe/Berlin',
      start: opened(r, daily?.spec ?? ''),
      key: 'n1/s2',
    });
    expect(daily?.start).not.toBe(closed?.start);
  });
});

describe('reducePolicy: calls entries', () => {
  const calls = chainOf('a', [
    podBody({ namespace: 'n1', nano: 100n, atMs: T0, session: 's1' }),
    callsEntryBody({ namespace: 'n1', atMs: T0, session: 's1' }, [
      leafCall({ kind: 'model', nano: 40n, item: 'gpt-4o', input: 1000n, output: 20n }, 0, T0),
      leafCall({ kind: 'tool', nano: 7n, item: 'web_search' }, 1, T0),
      leafCall({ kind: 'api', nano: 3n, item: 'api.stripe.com' }, 2, T0),
      leafCall({ kind: 'tool', nano: null, item: 'calculator' }, 3, T0),
    ]),
    callsEntryBody({ namespace: 'n2', atMs: T0 }, [
      leafCall({ kind: 'model', nano: 11n, item: 'gpt-4o', input: 5n, output: 6n }, 0, T0),
    ]),
    callsEntryBody({ namespace: 'n1', atMs: T0, session: 's1', policy: 'other' }, [
      leafCall({ kind: 'model', nano: 1000n, item: 'gpt-4o' }, 0, T0),
    ]),
  ]);

  it("counts each call's cost once per budget, session and namespace, by kind", () => {
    const r = reducePolicy(emptyState(), [], [chain('a', calls)], view, T0);
    // Infrastructure 100 + calls 40 + 7 + 3 (+ an unpriced call) in n1/s1; 11 in n2 unattributed.
    expect(r.state.budgets.get('all')?.sums.get('*')).toBe(161n);
    expect(r.state.budgets.get('ns')?.sums).toEqual(
      new Map([
        ['n1', 150n],
        ['n2', 11n],
      ]),
    );
    expect(r.state.budgets.get('sess')?.sums).toEqual(new Map([['n1/s1', 150n]]));
    const n1 = [...r.state.reports.values()][0]?.namespaces.get('n1');
    expect(n1?.cost).toMatchObject({ cpu: 100n, tokens: 40n, tools: 7n, apis: 3n });
    expect([n1?.input, n1?.output]).toEqual([1000n, 20n]);
    expect(r.counted).toBe(3);
    // Again from the committed state: nothing counts twice.
    const again = reducePolicy(
      decodeState(encodeState(r.state)),
      r.cursors,
      [chain('a', calls)],
      view,
      T0,
    );
    expect(again.counted).toBe(0);
    expect(encodeState(again.state)).toBe(encodeState(r.state));
  });

  it('keeps tool and API spend through the state encoding, and reads a state written before them', () => {
    const r = reducePolicy(emptyState(), [], [chain('a', calls)], view, T0);
    expect(decodeState(encodeState(r.state))).toEqual(r.state);
    // A namespace row as written before calls: six resources, input, output, sessions.
    const old = {
      v: 1,
      d: ['n1', 'n1/s1'],
      b: [],
      r: [['Monthly/UTC', T0, T0 + 1, [[0, '2s', '0', '0', '0', '0', '14', '1', '2', '1']]]],
      c: [],
    };
    const text = `v1.${gzipSync(JSON.stringify(old)).toString('base64')}`;
    const ns = decodeState(text).reports.get('Monthly/UTC')?.namespaces.get('n1');
    expect(ns?.cost).toEqual({
      cpu: 100n,
      memory: 0n,
      gpu: 0n,
      io: 0n,
      network: 0n,
      tokens: 40n,
      tools: 0n,
      apis: 0n,
    });
    expect([ns?.input, ns?.output]).toEqual([1n, 2n]);
    // Its session set is carried to the next round's fold, which hands it to the store.
    expect(decodeState(text).carried).toEqual([{ spec: 'Monthly/UTC', start: T0, key: 'n1/s1' }]);
    const next = new PolicyFold(decodeState(text), [], view, T0).finish();
    expect(next.periodSessions).toEqual([{ spec: 'Monthly/UTC', start: T0, key: 'n1/s1' }]);
    expect(decodeState(encodeState(next.state)).carried).toBeUndefined();
  });
});

// Sized work (10,000 sealed entries, reduced, gzipped and decoded twice over): seconds of CPU on a
// busy machine, so the timeout is a guard against a hang, not a speed target.
describe('accumulator state size', { timeout: 120_000 }, () => {
  let entries: LedgerEntry[];
  beforeAll(() => {
    const bodies = [];
    for (let i = 0; i < 10_000; i++) {
      const namespace = `team-${i.toString().padStart(5, '0')}-agents`;
      bodies.push(
        podBody(
          {
            namespace,
            nano: BigInt(1_000_000 + i * 7919),
            atMs: T0,
            session: `sess-${i}-${(i * 2654435761) % 1_000_000}`,
          },
          i,
        ),
      );
    }
    // Sealed once for both cases: hashing the chain is a third of the work.
    entries = chainOf('a', bodies);
  }, 120_000);
  function stateFor(bs: Budget[]): string {
    const r = reducePolicy(emptyState(), [], [chain('a', entries)], { ...view, budgets: bs }, T0);
    const encoded = encodeState(r.state);
    expect(decodeState(encoded)).toEqual(r.state);
    return encoded;
  }
  it('stays under 512 KiB at 10,000 namespaces and sessions with one period per budget scope', () => {
    const monthly = budgets.map((b) => ({ ...b, period: 'Monthly' as const, timeZone: 'UTC' }));
    expect(stateFor(monthly).length).toBeLessThan(512 * 1024);
  });
  it('stays under 1 MiB (etcd allows 1.5) even with three different period specs', () => {
    expect(stateFor(budgets).length).toBeLessThan(1024 * 1024);
  });
});
