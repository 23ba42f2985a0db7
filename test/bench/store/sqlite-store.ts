// The store on Node's built-in SQLite (node:sqlite, synchronous). Same tables and questions as
// postgres-store.ts in SQLite's dialect: `?` parameters, min/max for least/greatest, no casts,
// no unnest (a prepared statement per row is cheap in process), 64-bit INTEGER sums in STRICT
// tables (an overflow is refused rather than turned into a float).
import { DatabaseSync } from 'node:sqlite';
import type { SQLInputValue, StatementSync } from 'node:sqlite';
import { MIGRATIONS, MIGRATIONS_TABLE } from './migrations.ts';
import type { PullDeltas } from './deltas.ts';
import type { Pull, TagSet } from './month.ts';
import { CursorConflictError, DuplicateCallsError } from './store.ts';
import type { CursorMove, Ranked, SessionTotal, Store } from './store.ts';

export interface SqliteOptions {
  readonly path: string;
  /** Page cache in KiB. */
  readonly cacheKiB: number;
}

const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;
const blob = (hex: string | null | undefined): Uint8Array | null =>
  hex === null || hex === undefined ? null : Buffer.from(hex, 'hex');

type Statements = Record<
  'cursor' | 'call' | 'session' | 'budget' | 'rollup' | 'session1',
  StatementSync
>;

/** One call's values in the column order of the insert. */
function callRow(c: Pull['calls'], i: number, generation: bigint): SQLInputValue[] {
  return [
    blob(c.traceId[i]),
    blob(c.spanId[i]),
    blob(c.parentSpanId[i]),
    c.startNs[i],
    c.endNs[i],
    c.namespace[i],
    c.sessionId[i],
    c.pod[i],
    c.kind[i],
    c.operation[i],
    c.provider[i],
    c.model[i],
    c.toolName[i],
    c.toolType[i],
    c.apiHost[i],
    c.inputTokens[i],
    c.outputTokens[i],
    c.cacheReadTokens[i],
    c.cacheCreationTokens[i],
    c.reasoningTokens[i],
    c.errorType[i],
    c.costNano[i],
    c.unpricedReason[i],
    'bench',
    generation,
    c.tagSet[i],
  ] as SQLInputValue[];
}

export class SqliteStore implements Store {
  private readonly db: DatabaseSync;
  private readonly policyGeneration: bigint;
  private statements: Statements | undefined;

  constructor(options: SqliteOptions, policyGeneration: bigint) {
    this.policyGeneration = policyGeneration;
    this.db = new DatabaseSync(options.path);
    // WAL with synchronous=FULL: a commit is on disk before the agent may drop the entries.
    this.db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
      PRAGMA foreign_keys = ON; PRAGMA cache_size = -${options.cacheKiB};`);
  }

  private get st(): Statements {
    this.statements ??= {
      cursor: this.db
        .prepare(`INSERT INTO ledger_cursors (node, agent_id, last_seq, last_hash, updated_ns)
        VALUES (?, ?, ?, ?, ?) ON CONFLICT (node) DO UPDATE SET agent_id = excluded.agent_id,
        last_seq = excluded.last_seq, last_hash = excluded.last_hash, updated_ns = excluded.updated_ns
        WHERE ledger_cursors.last_seq = ?`),
      call: this.db.prepare(`INSERT INTO calls (trace_id, span_id, parent_span_id, start_ns, end_ns,
        namespace, session_id, pod, kind, operation, provider, model, tool_name, tool_type, api_host,
        input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, reasoning_tokens,
        error_type, cost_nano, unpriced_reason, policy, policy_generation, tag_set)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (trace_id, span_id) DO NOTHING`),
      session: this.db.prepare(`INSERT INTO session_totals (namespace, session_id, day, infra_nano,
        tokens_nano, tools_nano, apis_nano, total_nano, calls, unpriced_calls, input_tokens,
        output_tokens, cache_read_tokens, cpu_ns, memory_byte_seconds, first_ns, last_ns)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (namespace, session_id, day) DO UPDATE SET
        infra_nano = infra_nano + excluded.infra_nano, tokens_nano = tokens_nano + excluded.tokens_nano,
        tools_nano = tools_nano + excluded.tools_nano, apis_nano = apis_nano + excluded.apis_nano,
        total_nano = total_nano + excluded.total_nano, calls = calls + excluded.calls,
        unpriced_calls = unpriced_calls + excluded.unpriced_calls,
        input_tokens = input_tokens + excluded.input_tokens,
        output_tokens = output_tokens + excluded.output_tokens,
        cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
        cpu_ns = cpu_ns + excluded.cpu_ns,
        memory_byte_seconds = memory_byte_seconds + excluded.memory_byte_seconds,
        first_ns = min(first_ns, excluded.first_ns), last_ns = max(last_ns, excluded.last_ns)`),
      budget: this.db.prepare(`INSERT INTO budget_sums (policy, budget, period_start_ns, scope_key,
        spend_nano) VALUES (?, ?, ?, ?, ?) ON CONFLICT (policy, budget, period_start_ns, scope_key)
        DO UPDATE SET spend_nano = spend_nano + excluded.spend_nano`),
      rollup: this.db
        .prepare(`INSERT INTO daily_rollups (day, policy, namespace, tag_set, kind, item,
        cost_nano, calls, input_tokens, output_tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (day, policy, namespace, tag_set, kind, item) DO UPDATE SET
        cost_nano = cost_nano + excluded.cost_nano, calls = calls + excluded.calls,
        input_tokens = input_tokens + excluded.input_tokens,
        output_tokens = output_tokens + excluded.output_tokens`),
      session1: this.db.prepare(`SELECT sum(total_nano) AS total, sum(infra_nano) AS infra,
        sum(calls) AS calls, count(*) AS days FROM session_totals
        WHERE namespace = ? AND session_id = ?`),
    };
    return this.statements;
  }

  private transaction<T>(work: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const out = work();
      this.db.exec('COMMIT');
      return out;
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  private all(sql: string, ...params: (string | number | bigint)[]): Record<string, unknown>[] {
    const s = this.db.prepare(sql);
    s.setReadBigInts(true);
    return s.all(...params);
  }

  async version(): Promise<string> {
    return `SQLite ${String(this.all('SELECT sqlite_version() AS v')[0]?.v)} (node:sqlite, Node ${process.version})`;
  }

  async migrate(): Promise<number> {
    this.db.exec(MIGRATIONS_TABLE);
    return this.transaction(() => {
      const have = new Set(
        this.all('SELECT version FROM schema_migrations').map((r) => Number(r.version)),
      );
      let applied = 0;
      for (const m of MIGRATIONS) {
        if (have.has(m.version)) continue;
        this.db.exec(m.sqlite);
        this.db
          .prepare('INSERT INTO schema_migrations (version, name, applied_ns) VALUES (?, ?, ?)')
          .run(m.version, m.name, nowNs());
        applied++;
      }
      return applied;
    });
  }

  async registerTagSets(sets: readonly TagSet[]): Promise<void> {
    const set1 = this.db.prepare(
      'INSERT INTO tag_sets (id, tags) VALUES (?, ?) ON CONFLICT DO NOTHING',
    );
    const member = this.db.prepare(
      'INSERT INTO tag_set_members (tag_set, key, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
    );
    this.transaction(() => {
      for (const set of sets) {
        set1.run(set.id, JSON.stringify(set.tags));
        for (const [key, value] of Object.entries(set.tags)) member.run(set.id, key, value);
      }
    });
  }

  async apply(pull: Pull, d: PullDeltas, cursor: CursorMove): Promise<void> {
    const st = this.st;
    const c = pull.calls;
    const generation = this.policyGeneration;
    this.transaction(() => {
      const moved = st.cursor.run(
        cursor.node,
        cursor.agentId,
        cursor.toSeq,
        cursor.hash,
        nowNs(),
        cursor.afterSeq,
      );
      if (moved.changes !== 1) {
        throw new CursorConflictError(`cursor of ${cursor.node} is not at ${cursor.afterSeq}`);
      }
      let inserted = 0;
      for (let i = 0; i < c.traceId.length; i++) {
        inserted += Number(st.call.run(...callRow(c, i, generation)).changes);
      }
      if (inserted !== c.traceId.length) {
        throw new DuplicateCallsError(
          `${c.traceId.length - inserted} calls of the pull were already stored`,
        );
      }
      for (const s of d.sessions) {
        st.session.run(
          s.namespace,
          s.sessionId,
          s.day,
          s.infraNano,
          s.tokensNano,
          s.toolsNano,
          s.apisNano,
          s.totalNano,
          s.calls,
          s.unpricedCalls,
          s.inputTokens,
          s.outputTokens,
          s.cacheReadTokens,
          s.cpuNs,
          s.memoryByteSeconds,
          s.firstNs,
          s.lastNs,
        );
      }
      for (const b of d.budgets)
        st.budget.run(b.policy, b.budget, b.periodStartNs, b.scopeKey, b.nano);
      for (const r of d.rollups) {
        st.rollup.run(
          r.day,
          r.policy,
          r.namespace,
          r.tagSet,
          r.kind,
          r.item,
          r.costNano,
          r.calls,
          r.inputTokens,
          r.outputTokens,
        );
      }
    });
  }

  async session(namespace: string, id: string): Promise<SessionTotal | undefined> {
    const s = this.st.session1;
    s.setReadBigInts(true);
    const row = s.get(namespace, id) as Record<string, bigint | null> | undefined;
    if (row === undefined || row.total === null) return undefined;
    return {
      totalNano: String(row.total),
      infraNano: String(row.infra),
      calls: String(row.calls),
      days: Number(row.days),
    };
  }

  private ranked(sql: string, ...params: (string | number | bigint)[]): Ranked[] {
    return this.all(sql, ...params).map((r) => ({ key: String(r.key), nano: String(r.nano) }));
  }

  async topFromBudget(budget: string, periodStartNs: bigint, n: number): Promise<Ranked[]> {
    return this.ranked(
      `SELECT scope_key AS key, spend_nano AS nano FROM budget_sums
       WHERE policy = 'bench' AND budget = ? AND period_start_ns = ?
       ORDER BY spend_nano DESC LIMIT ?`,
      budget,
      periodStartNs,
      n,
    );
  }

  async topFromDays(fromDay: number, toDay: number, n: number): Promise<Ranked[]> {
    return this.ranked(
      `SELECT namespace || '/' || session_id AS key, sum(total_nano) AS nano
       FROM session_totals WHERE day >= ? AND day < ?
       GROUP BY namespace, session_id ORDER BY sum(total_nano) DESC LIMIT ?`,
      fromDay,
      toDay,
      n,
    );
  }

  async scopeKeyCount(budget: string, periodStartNs: bigint): Promise<number> {
    const r = this.all(
      `SELECT count(*) AS n FROM budget_sums
       WHERE policy = 'bench' AND budget = ? AND period_start_ns = ?`,
      budget,
      periodStartNs,
    );
    return Number(r[0]?.n);
  }

  async chargebackFromRollups(fromDay: number, toDay: number, tagKey: string): Promise<Ranked[]> {
    return this.ranked(
      `SELECT coalesce(m.value, '(untagged)') AS key, sum(r.cost_nano) AS nano
       FROM daily_rollups r LEFT JOIN tag_set_members m ON m.tag_set = r.tag_set AND m.key = ?
       WHERE r.day >= ? AND r.day < ? GROUP BY 1 ORDER BY 1`,
      tagKey,
      fromDay,
      toDay,
    );
  }

  async chargebackFromCalls(fromNs: bigint, toNs: bigint, tagKey: string): Promise<Ranked[]> {
    return this.ranked(
      `SELECT coalesce(m.value, '(untagged)') AS key, sum(c.cost_nano) AS nano
       FROM calls c LEFT JOIN tag_set_members m ON m.tag_set = c.tag_set AND m.key = ?
       WHERE c.start_ns >= ? AND c.start_ns < ? GROUP BY 1 ORDER BY 1`,
      tagKey,
      fromNs,
      toNs,
    );
  }

  async totals(budget: string): Promise<{ budget: string; sessions: string; rollups: string }> {
    const r = this.all(
      `SELECT (SELECT sum(spend_nano) FROM budget_sums WHERE budget = ?) AS budget,
              (SELECT sum(total_nano) FROM session_totals) AS sessions,
              (SELECT sum(cost_nano) FROM daily_rollups) AS rollups`,
      budget,
    )[0] as Record<string, bigint>;
    return { budget: String(r.budget), sessions: String(r.sessions), rollups: String(r.rollups) };
  }

  async deleteCallsBefore(ns: bigint): Promise<number> {
    return Number(this.db.prepare('DELETE FROM calls WHERE start_ns < ?').run(ns).changes);
  }

  async close(): Promise<void> {
    this.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    this.db.close();
  }
}
