// The fold's rounds committed to a real node:sqlite store: after every round the store's budget
// sums equal the fold's state to the nano-unit, and the session totals and rollups add up to
// what the fold counted. (Both engines run the store's own suite in test/integration.)
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { LedgerEntry, LedgerPosition } from '@agentmeter/crds';
import { indexPage, PolicyFold } from '../budgets/accumulate.ts';
import { emptyState } from '../budgets/state.ts';
import type { PolicyState } from '../budgets/state.ts';
import { leafCall, callsEntryBody, chainOf, podBody, view } from '../budgets/test-ledger.ts';
import { AccountingStore, CursorConflictError } from './accounting.ts';
import { budgetDeltas, cursorMoves, RoundRecorder } from './round.ts';
import { SqliteEngine } from './sqlite-engine.ts';

const T0 = Date.parse('2026-05-30T12:00:00Z');
const DAY = 86_400_000;
const DAY_OF_T0 = { fromDay: Math.floor(T0 / DAY), toDay: Math.floor(T0 / DAY) + 1 };
const GENESIS = (node: string): LedgerPosition => ({ node, seq: 0n, hash: '0'.repeat(64) });
const dir = mkdtempSync(join(os.tmpdir(), 'agentmeter-round-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Committed {
  state: PolicyState;
  cursors: LedgerPosition[];
}

/** One round: the fold over `pages`, then its commit to the store. */
async function round(
  store: AccountingStore,
  from: Committed,
  pages: { node: string; after: LedgerPosition; entries: LedgerEntry[] }[],
  nowMs: number,
): Promise<Committed> {
  const recorder = new RoundRecorder();
  const fold = new PolicyFold(from.state, from.cursors, view, nowMs, recorder.record);
  for (const p of pages) fold.add(indexPage(p.node, p.after, p.entries));
  const r = fold.finish();
  await store.commit(
    recorder.commit(
      'p',
      BigInt(nowMs) * 1_000_000n,
      budgetDeltas(from.state, r.state),
      cursorMoves(from.cursors, r.cursors),
    ),
  );
  return { state: r.state, cursors: r.cursors };
}

async function expectSameSums(store: AccountingStore, state: PolicyState): Promise<void> {
  for (const [name, b] of state.budgets) {
    const summary = await store.budgetSummary('p', name, BigInt(b.start) * 1_000_000n, 1n, 1000);
    expect(new Map(summary.top.map((r) => [r.key, r.nano]))).toEqual(b.sums);
  }
}

describe('rounds of the fold committed to the store', () => {
  it('keeps the store equal to the fold across rounds, periods and a retried round', async () => {
    const store = new AccountingStore(new SqliteEngine({ path: join(dir, 'rounds.db') }));
    await store.migrate();
    const a1 = chainOf('a', [
      podBody({ namespace: 'n1', nano: 100n, atMs: T0, session: 's1' }),
      podBody({ namespace: 'n2', nano: 50n, atMs: T0 }),
      podBody({ namespace: 'n1', nano: 7n, atMs: T0, policy: 'other' }),
    ]);
    const b1 = chainOf('b', [podBody({ namespace: 'n2', nano: 1000n, atMs: T0, session: 's2' })]);
    let c: Committed = { state: emptyState(), cursors: [] };
    c = await round(
      store,
      c,
      [
        { node: 'a', after: GENESIS('a'), entries: a1 },
        { node: 'b', after: GENESIS('b'), entries: b1 },
      ],
      T0,
    );
    await expectSameSums(store, c.state);
    expect((await store.cursors('p')).get('a')).toEqual({ seq: 3n, hash: a1[2]?.hash });

    // The next round: more entries on a, two days later (the Daily budget's period rolled over),
    // and the same page of b again (nothing new past its cursor).
    const a2 = chainOf(
      'a',
      [
        podBody({ namespace: 'n1', nano: 30n, atMs: T0 + 2 * DAY, session: 's1' }),
        podBody({ namespace: 'n3', nano: 5n, atMs: T0 + 2 * DAY }),
      ],
      a1[2],
    );
    const before = c;
    c = await round(
      store,
      c,
      [
        { node: 'a', after: { node: 'a', seq: 3n, hash: a1[2]?.hash ?? '' }, entries: a2 },
        { node: 'b', after: GENESIS('b'), entries: b1 },
      ],
      T0 + 2 * DAY,
    );
    await expectSameSums(store, c.state);
    const s1 = await store.session('p', 'n1', 's1');
    expect([s1?.infraNano, s1?.totalNano]).toEqual([130n, 130n]);

    // A retry of the same round from the old state is refused whole: nothing counts twice.
    await expect(
      round(
        store,
        before,
        [{ node: 'a', after: { node: 'a', seq: 3n, hash: a1[2]?.hash ?? '' }, entries: a2 }],
        T0 + 2 * DAY,
      ),
    ).rejects.toBeInstanceOf(CursorConflictError);
    await expectSameSums(store, c.state);

    const day0 = Math.floor(T0 / DAY);
    const byNamespace = await store.chargeback(
      'p',
      { fromDay: day0, toDay: day0 + 3 },
      { namespace: true },
    );
    expect(byNamespace.map((r) => [r.key, r.costNano])).toEqual([
      ['n2', 1050n],
      ['n1', 130n],
      ['n3', 5n],
    ]);
    await store.close();
  });

  it('records calls entries: session totals by kind, a rollup per model, tool and host, a row per call', async () => {
    const store = new AccountingStore(new SqliteEngine({ path: join(dir, 'calls.db') }));
    await store.migrate();
    const entries = chainOf('a', [
      podBody({ namespace: 'n1', nano: 100n, atMs: T0, session: 's1' }),
      callsEntryBody({ namespace: 'n1', atMs: T0, session: 's1' }, [
        leafCall({ kind: 'model', nano: 40n, item: 'gpt-4o', input: 1000n, output: 20n }, 0, T0),
        leafCall({ kind: 'tool', nano: 7n, item: 'web_search' }, 1, T0),
        leafCall({ kind: 'tool', nano: 7n, item: 'web_search' }, 2, T0),
        leafCall({ kind: 'api', nano: 3n, item: 'api.stripe.com' }, 3, T0),
        leafCall({ kind: 'tool', nano: null, item: 'calculator' }, 4, T0),
      ]),
    ]);
    const c = await round(
      store,
      { state: emptyState(), cursors: [] },
      [{ node: 'a', after: GENESIS('a'), entries }],
      T0,
    );
    await expectSameSums(store, c.state);
    expect(await store.session('p', 'n1', 's1')).toMatchObject({
      infraNano: 100n,
      tokensNano: 40n,
      toolsNano: 14n,
      apisNano: 3n,
      totalNano: 157n,
      calls: 5n,
      unpricedCalls: 1n,
      inputTokens: 1000n,
      outputTokens: 20n,
    });
    const byTool = await store.dailyBreakdown('p', DAY_OF_T0, { by: 'tool' });
    expect(byTool.map((r) => [r.key, r.costNano, r.calls])).toEqual([
      ['calculator', 0n, 1n],
      ['web_search', 14n, 2n],
    ]);
    const byModel = await store.dailyBreakdown('p', DAY_OF_T0, { by: 'model' });
    expect(byModel.map((r) => [r.key, r.costNano, r.calls])).toEqual([['gpt-4o', 40n, 1n]]);
    const byApi = await store.dailyBreakdown('p', DAY_OF_T0, { by: 'api' });
    expect(byApi.map((r) => [r.key, r.costNano, r.calls])).toEqual([['api.stripe.com', 3n, 1n]]);
    await store.close();
  });

  it('keeps the tags the agent recorded with each entry: chargeback by any tag, untagged apart', async () => {
    const store = new AccountingStore(new SqliteEngine({ path: join(dir, 'tags.db') }));
    await store.migrate();
    const entries = chainOf('a', [
      {
        ...podBody({ namespace: 'n1', nano: 100n, atMs: T0, session: 's1' }),
        tags: { team: 'red' },
      },
      // The same pod a tick later, after its team label changed: the report shows both.
      {
        ...podBody({ namespace: 'n1', nano: 50n, atMs: T0 + 1000, session: 's1' }, 1),
        tags: { team: 'blue' },
      },
      podBody({ namespace: 'n2', nano: 30n, atMs: T0 }, 2),
      {
        ...callsEntryBody({ namespace: 'n1', atMs: T0, session: 's1' }, [
          leafCall({ kind: 'model', nano: 40n, item: 'gpt-4o', input: 10n, output: 2n }, 0, T0),
        ]),
        tags: { agent: 'planner', team: 'red' },
      },
    ]);
    await round(
      store,
      { state: emptyState(), cursors: [] },
      [{ node: 'a', after: GENESIS('a'), entries }],
      T0 + 2000,
    );
    const byTeam = await store.chargeback('p', DAY_OF_T0, { tag: 'team' });
    expect(byTeam.map((r) => [r.key, r.costNano, r.calls])).toEqual([
      ['red', 140n, 1n],
      ['blue', 50n, 0n],
      [null, 30n, 0n],
    ]);
    const byAgent = await store.dailyBreakdown('p', DAY_OF_T0, { by: 'tag', tag: 'agent' });
    expect(byAgent.map((r) => [r.key, r.costNano])).toEqual([
      ['planner', 40n],
      [null, 180n],
    ]);
    const [call] = await store.sessionCalls('p', 'n1', 's1', 10);
    expect(call?.tags).toEqual({ agent: 'planner', team: 'red' });
    await store.close();
  });
});
