// The accounting store on both engines: node:sqlite in a temp file, and Debian's PostgreSQL
// server started for this suite (test/support/postgres.ts). Every case runs on each.
import { modelCallRecord } from '../support/call-record.ts';
import { sessionDelta } from '../support/session-delta.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AccountingStore,
  calendarMonth,
  CursorConflictError,
  DuplicateCallError,
  retentionAt,
} from '../../operator/src/store/accounting.ts';
import type {
  CallRecord,
  RollupDelta,
  RoundCommit,
  SessionDelta,
} from '../../operator/src/store/accounting.ts';
import { StoreQueryError } from '../../operator/src/store/engine.ts';
import { StoreVersionError } from '../../operator/src/store/migrate.ts';
import { openStore } from '../../operator/src/store/open.ts';
import type { StoreConfig } from '../../operator/src/store/open.ts';
import { freePort } from '../support/agent-process.ts';
import { startCluster } from '../support/postgres.ts';
import type { Cluster } from '../support/postgres.ts';

const DAY = 20_400; // a unix day
const DAY_NS = 86_400_000_000_000n;
const PERIOD = BigInt(DAY) * DAY_NS;
const hash = (n: number): string => n.toString(16).padStart(64, '0');

function call(n: number, ns: string, session: string, tags: Record<string, string>): CallRecord {
  return modelCallRecord({
    traceId: hash(n).slice(32),
    spanId: hash(n).slice(48),
    startNs: BigInt(DAY) * DAY_NS + BigInt(n),
    endNs: BigInt(DAY) * DAY_NS + BigInt(n) + 1000n,
    namespace: ns,
    sessionId: session,
    pod: `${ns}-pod`,
    inputTokens: 10n,
    outputTokens: 5n,
    costNano: 700n,
    policyGeneration: 1n,
    tags,
  });
}

function rollup(ns: string, tags: Record<string, string>, cost: bigint, day = DAY): RollupDelta {
  return {
    day,
    namespace: ns,
    tags,
    kind: 'model',
    item: 'gpt-5',
    costNano: cost,
    calls: 1n,
    inputTokens: 10n,
    outputTokens: 5n,
  };
}

/** One round of one node: session `id` in `ns` spends `nano`, counted in every table. */
function round(
  node: string,
  from: number | null,
  to: number,
  ns: string,
  id: string,
  nano: bigint,
  tags: Record<string, string> = { team: 'a' },
  calls: CallRecord[] = [],
): RoundCommit {
  return {
    policy: 'p',
    atNs: 1n,
    cursors: [
      {
        node,
        from: from === null ? null : { seq: BigInt(from), hash: hash(from) },
        to: { seq: BigInt(to), hash: hash(to) },
      },
    ],
    budgets: [
      { budget: 'all', periodStartNs: PERIOD, scopeKey: '', nano },
      { budget: 'per-session', periodStartNs: PERIOD, scopeKey: `${ns}/${id}`, nano },
    ],
    sessions: [sessionDelta(ns, id, DAY, nano, 0n)],
    periodSessions: [{ spec: 'Monthly/UTC', periodStartNs: PERIOD, namespace: ns, sessionId: id }],
    rollups: [{ ...rollup(ns, tags, nano), kind: 'infra', item: '', calls: 0n }],
    calls,
  };
}

const engines: [string, () => Promise<StoreConfig>][] = [];
let cluster: Cluster | undefined;
const dir = mkdtempSync(join(os.tmpdir(), 'agentmeter-store-test-'));
let n = 0;
engines.push(['sqlite', async () => ({ engine: 'sqlite', path: join(dir, `store-${++n}.db`) })]);
engines.push([
  'postgres',
  async () => {
    cluster ??= await startCluster();
    // A fresh database per case, so cases do not see each other's rows.
    const admin = await openStore({ engine: 'postgres', url: cluster.url });
    const db = `case_${++n}`;
    await admin.engine.exec(`CREATE DATABASE ${db}`);
    await admin.close();
    return { engine: 'postgres', url: cluster.url.replace(/\/postgres$/, `/${db}`) };
  },
]);

afterAll(async () => {
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe.each(engines)('accounting store on %s', (engine, config) => {
  let store: AccountingStore;
  let storeConfig: StoreConfig;
  beforeAll(async () => {
    storeConfig = await config();
    store = await openStore(storeConfig);
  });
  afterAll(async () => {
    await store.close();
  });

  it('migrates once, and refuses a store newer than the operator', async () => {
    const cfg = await config();
    const fresh = await openStore(cfg);
    expect(await fresh.migrate()).toEqual([]);
    await fresh.engine.run(
      'INSERT INTO schema_migrations (version, name, applied_ns) VALUES (99, $1, 0)',
      ['future'],
    );
    await expect(fresh.migrate()).rejects.toBeInstanceOf(StoreVersionError);
    await fresh.close();
    const version = await store.engine.version();
    expect(version).toMatch(engine === 'sqlite' ? /^SQLite 3\./ : /^PostgreSQL \d+/);
  });

  it('commits a round whole and answers lookups, top sessions and chargeback exactly', async () => {
    await store.commit({
      policy: 'p',
      atNs: 10n,
      cursors: [
        { node: 'n1', from: null, to: { seq: 3n, hash: hash(3) } },
        { node: 'n2', from: null, to: { seq: 1n, hash: hash(1) } },
      ],
      budgets: [
        { budget: 'per-session', periodStartNs: PERIOD, scopeKey: 'a/s1', nano: 1000n },
        { budget: 'per-session', periodStartNs: PERIOD, scopeKey: 'a/s1', nano: 400n },
        { budget: 'per-session', periodStartNs: PERIOD, scopeKey: 'b/s2', nano: 2000n },
        { budget: 'per-session', periodStartNs: PERIOD, scopeKey: 'b/s3', nano: 2000n },
      ],
      sessions: [
        sessionDelta('a', 's1', DAY, 300n, 700n),
        sessionDelta('a', 's1', DAY + 1, 400n, 0n),
        sessionDelta('b', 's2', DAY, 2000n, 0n),
        sessionDelta('b', 's3', DAY, 1000n, 1000n),
      ],
      rollups: [
        rollup('a', { team: 'red', 'cost-center': 'cc1' }, 1000n),
        rollup('a', { 'cost-center': 'cc1', team: 'red' }, 400n, DAY + 1),
        rollup('b', { team: 'blue' }, 2000n),
        rollup('b', {}, 2000n),
      ],
      calls: [call(1, 'a', 's1', { team: 'red', 'cost-center': 'cc1' })],
    });

    const cursors = await store.cursors('p');
    expect([...cursors]).toEqual([
      ['n1', { seq: 3n, hash: hash(3) }],
      ['n2', { seq: 1n, hash: hash(1) }],
    ]);
    expect(await store.spend('p', 'per-session', PERIOD, 'a/s1')).toBe(1400n);
    expect(await store.spend('p', 'per-session', PERIOD, 'nope')).toBe(0n);
    expect(await store.budgetSummary('p', 'per-session', PERIOD, 1400n, 2)).toEqual({
      count: 3,
      reachedLimit: 3,
      totalNano: 5400n,
      top: [
        { key: 'b/s2', nano: 2000n },
        { key: 'b/s3', nano: 2000n },
      ],
    });
    expect((await store.budgetSummary('p', 'per-session', PERIOD, 1401n, 0)).reachedLimit).toBe(2);

    const s1 = await store.session('p', 'a', 's1');
    expect(s1).toMatchObject({ infraNano: 700n, tokensNano: 700n, totalNano: 1400n, calls: 1n });
    expect(s1?.firstNs).toBe(BigInt(DAY) * DAY_NS + 1n);
    expect(s1?.lastNs).toBe(BigInt(DAY + 1) * DAY_NS + 2n);
    expect(await store.session('p', 'a', 'missing')).toBeUndefined();
    expect(await store.session('other-policy', 'a', 's1')).toBeUndefined();

    const top = await store.topSessions('p', { fromDay: DAY, toDay: DAY + 2 }, 10);
    expect(top.map((s) => [s.namespace, s.sessionId, s.totalNano])).toEqual([
      ['b', 's2', 2000n],
      ['b', 's3', 2000n],
      ['a', 's1', 1400n],
    ]);
    const firstDayOfA = await store.topSessions('p', { fromDay: DAY, toDay: DAY + 1 }, 10, 'a');
    expect(firstDayOfA.map((s) => s.totalNano)).toEqual([1000n]);

    expect(await store.chargeback('p', { fromDay: DAY, toDay: DAY + 2 }, { tag: 'team' })).toEqual([
      { key: 'blue', costNano: 2000n, calls: 1n },
      { key: null, costNano: 2000n, calls: 1n },
      { key: 'red', costNano: 1400n, calls: 2n },
    ]);
    expect(
      await store.chargeback('p', { fromDay: DAY, toDay: DAY + 1 }, { namespace: true }),
    ).toEqual([
      { key: 'b', costNano: 4000n, calls: 2n },
      { key: 'a', costNano: 1000n, calls: 1n },
    ]);

    const days = { fromDay: DAY, toDay: DAY + 2 };
    expect(await store.dailyBreakdown('p', days, { by: 'tag', tag: 'team' })).toEqual([
      { day: DAY, key: 'blue', costNano: 2000n, calls: 1n },
      { day: DAY, key: 'red', costNano: 1000n, calls: 1n },
      { day: DAY, key: null, costNano: 2000n, calls: 1n },
      { day: DAY + 1, key: 'red', costNano: 400n, calls: 1n },
    ]);
    expect(await store.dailyBreakdown('p', days, { by: 'namespace' })).toEqual([
      { day: DAY, key: 'a', costNano: 1000n, calls: 1n },
      { day: DAY, key: 'b', costNano: 4000n, calls: 2n },
      { day: DAY + 1, key: 'a', costNano: 400n, calls: 1n },
    ]);
    expect(await store.dailyBreakdown('p', days, { by: 'model' })).toEqual([
      { day: DAY, key: 'gpt-5', costNano: 5000n, calls: 3n },
      { day: DAY + 1, key: 'gpt-5', costNano: 400n, calls: 1n },
    ]);
    expect(await store.dailyBreakdown('p', days, { by: 'tool' })).toEqual([]);
  });

  it('answers the top sessions of a calendar month from the month totals, as the days sum', async () => {
    const s = await openStore(await config());
    const nov = calendarMonth(DAY);
    const sessions = (deltas: SessionDelta[]): RoundCommit => ({
      policy: 'm',
      atNs: 1n,
      cursors: [],
      budgets: [],
      sessions: deltas,
      rollups: [],
      calls: [],
    });
    const top = async (n: number, ns?: string) =>
      (await s.topSessions('m', nov, n, ns)).map((r) => [r.namespace, r.sessionId, r.totalNano]);
    try {
      // A session that began in October, one that runs into December, and a second round.
      await s.commit(
        sessions([
          sessionDelta('a', 's1', nov.fromDay - 1, 9000n, 0n),
          sessionDelta('a', 's1', nov.fromDay, 100n, 0n),
          sessionDelta('b', 's2', nov.toDay - 1, 300n, 0n),
          sessionDelta('b', 's2', nov.toDay, 9000n, 0n),
          sessionDelta('b', 's3', DAY, 200n, 50n),
        ]),
      );
      await s.commit(sessions([sessionDelta('a', 's1', DAY, 500n, 0n)]));
      expect(await top(10)).toEqual([
        ['a', 's1', 600n],
        ['b', 's2', 300n],
        ['b', 's3', 250n],
      ]);
      expect((await s.topSessions('m', nov, 1, 'b'))[0]).toMatchObject({
        sessionId: 's2',
        infraNano: 300n,
        firstNs: BigInt(nov.toDay - 1) * DAY_NS + 1n,
      });
      // Retention that took November's first day leaves the month to the days that remain.
      const pruned = await s.retain({ ...retentionAt(0), sessionsBeforeDay: nov.fromDay + 1 });
      expect(pruned).toMatchObject({ sessions: 2, sessionMonths: 3 + 1 });
      expect(await top(10)).toEqual([
        ['a', 's1', 500n],
        ['b', 's2', 300n],
        ['b', 's3', 250n],
      ]);
    } finally {
      await s.close();
    }
  });

  it('fills the month totals from the session days when it migrates to version 5', async () => {
    const cfg = await config();
    const s = await openStore(cfg);
    await s.engine.exec('DROP TABLE session_months');
    await s.engine.run('DELETE FROM schema_migrations WHERE version = 5');
    try {
      const nov = calendarMonth(DAY);
      for (const [id, day, nano] of [
        ['s1', nov.fromDay - 1, 9000n],
        ['s1', DAY, 100n],
        ['s2', nov.toDay - 1, 300n],
        ['s2', nov.toDay, 7n],
      ] as const) {
        await s.engine.run(
          `INSERT INTO session_totals (policy, namespace, session_id, day, infra_nano, total_nano,
             tokens_nano, tools_nano, apis_nano, calls, unpriced_calls, input_tokens,
             output_tokens, first_ns, last_ns)
           VALUES ('m', 'a', $1, $2, $3, $3, 0, 0, 0, 0, 0, 0, 0, 0, 0)`,
          [id, day, nano],
        );
      }
      expect(await s.migrate()).toEqual([5]);
      const months = await s.engine.query<{ month_day: unknown; session_id: string; t: unknown }>(
        `SELECT month_day, session_id, total_nano AS t FROM session_months
         ORDER BY month_day, session_id`,
      );
      expect(months.map((r) => [Number(r.month_day), r.session_id, BigInt(String(r.t))])).toEqual([
        [calendarMonth(nov.fromDay - 1).fromDay, 's1', 9000n],
        [nov.fromDay, 's1', 100n],
        [nov.fromDay, 's2', 300n],
        [nov.toDay, 's2', 7n],
      ]);
      expect((await s.topSessions('m', nov, 5)).map((r) => r.totalNano)).toEqual([300n, 100n]);
    } finally {
      await s.close();
    }
  });

  it('refuses a round whose cursor moved, and writes none of it', async () => {
    await store.commit(round('c1', null, 5, 'x', 'y', 100n));
    const stale = round('c1', 4, 9, 'x', 'z', 50n);
    await expect(store.commit(stale)).rejects.toBeInstanceOf(CursorConflictError);
    // The same round twice (a retry after an unknown outcome) counts once.
    const next = round('c1', 5, 9, 'x', 'y', 50n);
    await store.commit(next);
    await expect(store.commit(next)).rejects.toBeInstanceOf(CursorConflictError);
    // A second "first" cursor for a node is a conflict too.
    await expect(store.commit(round('c1', null, 2, 'x', 'y', 1n))).rejects.toBeInstanceOf(
      CursorConflictError,
    );
    expect((await store.cursors('p')).get('c1')).toEqual({ seq: 9n, hash: hash(9) });
    expect(await store.spend('p', 'per-session', PERIOD, 'x/y')).toBe(150n);
    expect((await store.session('p', 'x', 'y'))?.totalNano).toBe(150n);
    // The period's sessions: y once though two rounds counted it; the refused round's z not.
    expect(await store.periodSessionCounts('p', 'Monthly/UTC', PERIOD)).toEqual(
      new Map([['x', 1]]),
    );
    expect(await store.periodSessionCounts('p', 'Weekly/UTC', PERIOD)).toEqual(new Map());
    // A policy deleted and created again under the name counts its periods' sessions afresh.
    await store.forget('p');
    expect(await store.periodSessionCounts('p', 'Monthly/UTC', PERIOD)).toEqual(new Map());
  });

  it('refuses a round that repeats a stored call, and forgets the tag sets it created', async () => {
    const tags = { team: 'green' };
    await store.commit(round('d1', null, 1, 'g', 's', 700n, tags, [call(100, 'g', 's', tags)]));
    const newTags = { team: 'violet' };
    const repeat = round('d1', 1, 2, 'g', 's', 700n, newTags, [
      call(101, 'g', 's', newTags),
      call(100, 'g', 's', tags),
    ]);
    await expect(store.commit(repeat)).rejects.toBeInstanceOf(DuplicateCallError);
    expect((await store.cursors('p')).get('d1')?.seq).toBe(1n);
    expect(await store.spend('p', 'per-session', PERIOD, 'g/s')).toBe(700n);
    // The rolled-back tag set is created again, not taken from a cache of ids that do not exist.
    await store.commit(round('d1', 1, 2, 'g', 's', 700n, newTags, [call(101, 'g', 's', newTags)]));
    const byTeam = await store.chargeback('p', { fromDay: DAY, toDay: DAY + 1 }, { tag: 'team' });
    expect(byTeam.find((r) => r.key === 'violet')?.costNano).toBe(700n);
  });

  it('lets exactly one of two racing rounds from the same cursor commit', async () => {
    // On PostgreSQL a second operator on the same database (a second connection, as a second
    // replica has). SQLite serves one replica through one connection: its rounds take turns.
    const other = engine === 'postgres' ? await openStore(storeConfig) : store;
    try {
      await store.commit(round('r1', null, 1, 'race', 's', 1n));
      const mine = round('r1', 1, 2, 'race', 's', 10n);
      const theirs = round('r1', 1, 3, 'race', 's', 20n);
      const results = await Promise.allSettled([store.commit(mine), other.commit(theirs)]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const failed = results.find((r) => r.status === 'rejected');
      expect(failed?.reason).toBeInstanceOf(CursorConflictError);
      const spend = await store.spend('p', 'per-session', PERIOD, 'race/s');
      const seq = (await store.cursors('p')).get('r1')?.seq;
      expect(spend).toBe(seq === 2n ? 11n : 21n);
    } finally {
      if (other !== store) await other.close();
    }
  });

  it('refuses a sum past 2^63 nano rather than wrapping, and keeps the cursor', async () => {
    const max = 2n ** 63n - 1n;
    const s = await openStore(await config());
    try {
      await s.commit(round('o1', null, 1, 'big', 's', max));
      await expect(s.commit(round('o1', 1, 2, 'big', 's', 1n))).rejects.toBeInstanceOf(
        StoreQueryError,
      );
      expect((await s.cursors('p')).get('o1')?.seq).toBe(1n);
      expect(await s.spend('p', 'per-session', PERIOD, 'big/s')).toBe(max);
    } finally {
      await s.close();
    }
  });

  it('deletes what passed retention and reports its size', async () => {
    const cfg = await config();
    const s = await openStore(cfg);
    try {
      const tags = { team: 't' };
      const old = round('k1', null, 1, 'k', 'old', 5n, tags, [call(7, 'k', 'old', tags)]);
      await s.commit({
        ...old,
        sessions: [
          sessionDelta('k', 'old', DAY - 40, 5n, 0n),
          sessionDelta('k', 'new', DAY, 5n, 0n),
        ],
        rollups: [rollup('k', tags, 5n, DAY - 400), rollup('k', tags, 5n, DAY)],
      });
      const before = await s.sizeBytes();
      expect(before).toBeGreaterThan(0n);
      // The defaults 31 days on: the call (day DAY) and the 40-day-old session day are past
      // theirs, the 400-day-old rollup is not.
      const at = (DAY + 31) * 86_400_000;
      expect(retentionAt(at)).toEqual({
        callsBeforeNs: BigInt(DAY + 1) * DAY_NS,
        sessionsBeforeDay: DAY - 59,
        rollupsBeforeDay: DAY - 769,
        budgetSumsBeforeNs: BigInt(DAY - 59) * DAY_NS,
      });
      const deleted = await s.retain({ ...retentionAt(at), sessionsBeforeDay: DAY - 30 });
      expect(deleted).toEqual({
        calls: 1,
        sessions: 1,
        rollups: 0,
        budgetSums: 0,
        periodSessions: 0,
        sessionMonths: 1,
      });
      expect(await s.retain({ ...retentionAt(at), rollupsBeforeDay: DAY - 365 })).toEqual({
        calls: 0,
        sessions: 0,
        rollups: 1,
        budgetSums: 0,
        periodSessions: 0,
        sessionMonths: 0,
      });
      expect(await s.session('p', 'k', 'old')).toBeUndefined();
      expect((await s.session('p', 'k', 'new'))?.totalNano).toBe(5n);

      // Budget sums go with the per-session days, but a period that may still be open (one
      // that started 33 days ago or less) keeps its sums whatever the session retention.
      const short = { calls: 30, sessions: 7, rollups: 800 };
      expect(retentionAt((DAY + 32) * 86_400_000, short).budgetSumsBeforeNs).toBe(
        BigInt(DAY - 1) * DAY_NS,
      );
      expect(await s.retain(retentionAt((DAY + 32) * 86_400_000, short))).toMatchObject({
        budgetSums: 0,
      });
      expect(await s.spend('p', 'per-session', PERIOD, 'k/old')).toBe(5n);
      expect(await s.retain(retentionAt((DAY + 34) * 86_400_000, short))).toMatchObject({
        budgetSums: 2,
        periodSessions: 1,
      });
      expect(await s.spend('p', 'per-session', PERIOD, 'k/old')).toBe(0n);
    } finally {
      await s.close();
    }
  });
});

describe('an unreachable store', () => {
  it('fails opening with the reason, and a SQLite path that cannot exist says where', async () => {
    const closedPort = await freePort('127.0.0.1');
    await expect(
      openStore({ engine: 'postgres', url: `postgres://postgres@127.0.0.1:${closedPort}/x` }),
    ).rejects.toThrow(/ECONNREFUSED/);
    await expect(
      openStore({ engine: 'sqlite', path: join(dir, 'no-such-dir', 'store.db') }),
    ).rejects.toThrow(/cannot open the sqlite store at .*no-such-dir/);
  });
});
