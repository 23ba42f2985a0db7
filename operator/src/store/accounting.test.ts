// The store's per-month session totals on a real node:sqlite store: the top sessions of a
// calendar month read from session_months agree with summing every session's days, across month
// boundaries, namespaces, later rounds, retention and a store migrated from before the table.
// (Both engines run the store's own suite in test/integration.)
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AccountingStore, calendarMonth, retentionAt, sessionMonths } from './accounting.ts';
import type { RoundCommit, SessionDelta } from './accounting.ts';
import { migrate } from './migrate.ts';
import { MIGRATIONS } from './schema.ts';
import { SqliteEngine } from './sqlite-engine.ts';
import { sessionDelta } from '../../../test/support/session-delta.ts';

const DAY_MS = 86_400_000;
/** 2026-11-01 and 2026-12-01 as unix days. */
const NOV = Date.UTC(2026, 10, 1) / DAY_MS;
const DEC = Date.UTC(2026, 11, 1) / DAY_MS;
const dir = mkdtempSync(join(os.tmpdir(), 'agentmeter-accounting-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

const delta = (ns: string, id: string, day: number, infra: bigint, tokens = 0n): SessionDelta =>
  sessionDelta(ns, id, day, infra, tokens);

const commit = (sessions: SessionDelta[]): RoundCommit => ({
  policy: 'p',
  atNs: 1n,
  cursors: [],
  budgets: [],
  sessions,
  rollups: [],
  calls: [],
});

/** A month of sessions over 3 namespaces; some cross into December, some started in October. */
function month(): SessionDelta[] {
  const out: SessionDelta[] = [];
  for (let s = 0; s < 60; s++) {
    const ns = `ns-${s % 3}`;
    const day = NOV + (s % 30);
    out.push(delta(ns, `s${s}`, day, BigInt((s * 7919) % 1000), BigInt(s % 4)));
    if (s % 30 === 29) out.push(delta(ns, `s${s}`, DEC, 5000n));
    if (s % 30 === 0) out.push(delta(ns, `s${s}`, NOV - 1, 7000n));
  }
  return out;
}

async function fresh(): Promise<AccountingStore> {
  const store = new AccountingStore(new SqliteEngine({ path: join(dir, `s${++n}.db`) }));
  await store.migrate();
  return store;
}

/** The top sessions of November by the deltas' sums, worked out here: [namespace, id, total]. */
function expected(deltas: readonly SessionDelta[], top: number, ns?: string, fromDay = NOV) {
  const sums = new Map<string, [string, string, bigint]>();
  for (const d of deltas) {
    if (d.day < fromDay || d.day >= DEC || (ns !== undefined && d.namespace !== ns)) continue;
    const key = `${d.namespace}/${d.sessionId}`;
    const have = sums.get(key) ?? [d.namespace, d.sessionId, 0n];
    have[2] += d.infraNano + d.tokensNano;
    sums.set(key, have);
  }
  return [...sums.values()]
    .sort((a, b) => (a[2] !== b[2] ? (a[2] > b[2] ? -1 : 1) : a[0] + a[1] < b[0] + b[1] ? -1 : 1))
    .slice(0, top);
}

async function november(store: AccountingStore, top: number, ns?: string) {
  const rows = await store.topSessions('p', { fromDay: NOV, toDay: DEC }, top, ns);
  return rows.map((r) => [r.namespace, r.sessionId, r.totalNano]);
}

describe('calendarMonth and sessionMonths', () => {
  it('gives the UTC calendar month of a day, and sums each session per month', () => {
    expect(calendarMonth(NOV + 17)).toEqual({ fromDay: NOV, toDay: DEC });
    expect(calendarMonth(DEC)).toEqual({ fromDay: DEC, toDay: DEC + 31 });
    expect(calendarMonth(NOV - 1)).toEqual({ fromDay: NOV - 31, toDay: NOV });
    expect(
      sessionMonths([
        delta('a', 's', NOV, 1n, 2n),
        delta('a', 's', NOV + 29, 10n),
        delta('a', 's', DEC, 100n),
        delta('b', 's', NOV, 1000n),
      ]),
    ).toEqual([
      { monthDay: NOV, namespace: 'a', sessionId: 's', totalNano: 13n },
      { monthDay: DEC, namespace: 'a', sessionId: 's', totalNano: 100n },
      { monthDay: NOV, namespace: 'b', sessionId: 's', totalNano: 1000n },
    ]);
  });
});

describe('the top sessions of a calendar month', () => {
  it('agree with summing every day, by namespace and after later rounds', async () => {
    const store = await fresh();
    try {
      // Two rounds: the second adds to sessions the first wrote.
      const all = [...month(), delta('ns-1', 's1', NOV + 3, 900n)];
      await store.commit(commit(all.slice(0, 40)));
      await store.commit(commit(all.slice(40)));
      for (const [top, ns] of [[5], [100], [3, 'ns-2']] as const) {
        const m = await november(store, top, ns);
        expect(m).toEqual(expected(all, top, ns));
        expect(m.length).toBe(Math.min(top, ns === undefined ? 60 : 20));
      }
      // October's and December's days of the crossing sessions are not November's.
      const s29 = (await november(store, 100)).find((r) => r[1] === 's29');
      expect(s29?.[2]).toBe(BigInt((29 * 7919) % 1000) + 1n);
      const full = await store.topSessions('p', { fromDay: NOV, toDay: DEC }, 1);
      expect(full[0]).toMatchObject({ calls: 1n, inputTokens: 20n, sessionId: 's1' });
      const december = await store.topSessions('p', { fromDay: DEC, toDay: DEC + 31 }, 10);
      expect(december.map((r) => [r.sessionId, r.totalNano])).toEqual([
        ['s29', 5000n],
        ['s59', 5000n],
      ]);
    } finally {
      await store.close();
    }
  });

  it('fall back to the days when retention took the month, and the month goes whole', async () => {
    const store = await fresh();
    try {
      await store.commit(commit(month()));
      expect(await november(store, 100)).toEqual(expected(month(), 100));
      // Cut mid-November: November's month rows go whole (and October's), its later days stay.
      const pruned = await store.retain({
        ...retentionAt(Date.UTC(2026, 11, 10)),
        sessionsBeforeDay: NOV + 10,
      });
      expect(pruned.sessionMonths).toBe(60 + 2);
      const after = await november(store, 100);
      expect(after).toEqual(expected(month(), 100, undefined, NOV + 10));
      expect(after.length).toBe(40);
      // December's month started after the cut: still read from session_months.
      const rows = await store.engine.query(
        'SELECT count(*) AS n FROM session_months WHERE month_day = $1',
        [DEC],
      );
      expect(Number(rows[0]?.n)).toBe(2);
    } finally {
      await store.close();
    }
  });

  it('are filled from session_totals when a store migrates to the table', async () => {
    const engine = new SqliteEngine({ path: join(dir, `s${++n}.db`) });
    const store = new AccountingStore(engine);
    try {
      await migrate(
        engine,
        MIGRATIONS.filter((m) => m.version < 5),
      );
      // Rows as a round before version 5 wrote them.
      for (const d of month()) {
        await engine.run(
          `INSERT INTO session_totals (policy, namespace, session_id, day, infra_nano, total_nano,
             tokens_nano, tools_nano, apis_nano, calls, unpriced_calls, input_tokens,
             output_tokens, first_ns, last_ns)
           VALUES ('p', $1, $2, $3, $4, $4, 0, 0, 0, 1, 0, 0, 0, 0, 0)`,
          [d.namespace, d.sessionId, d.day, d.infraNano + d.tokensNano],
        );
      }
      expect(await store.migrate()).toEqual([5]);
      expect(await november(store, 100)).toEqual(expected(month(), 100));
      const held = await engine.query('SELECT count(*) AS n FROM session_months');
      expect(Number(held[0]?.n)).toBe(60 + 2 + 2);
    } finally {
      await store.close();
    }
  });
});
