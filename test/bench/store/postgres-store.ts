// The store in PostgreSQL's dialect, over any connection that runs parameterised SQL: the `pg`
// client against a PostgreSQL server, or PGlite in process. One text for both engines.
// Multi-row writes bind one array per column and unnest them, so a pull of 2,000 calls is one
// statement, not 2,000.
import { MIGRATIONS, MIGRATIONS_TABLE } from './migrations.ts';
import type { PullDeltas } from './deltas.ts';
import type { Pull, TagSet } from './month.ts';
import { CursorConflictError, DuplicateCallsError } from './store.ts';
import type { CursorMove, Ranked, SessionTotal, Store } from './store.ts';

export interface SqlResult<R> {
  readonly rows: R[];
  readonly rowCount: number;
}

export interface Sql {
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<SqlResult<R>>;
  /** Runs a script of several statements without parameters (a migration). */
  exec(script: string): Promise<void>;
}

export interface SqlConnection extends Sql {
  transaction<T>(work: (tx: Sql) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

const str = (xs: readonly (bigint | null)[]): (string | null)[] =>
  xs.map((x) => (x === null ? null : x.toString()));

const INSERT_CALLS = `
INSERT INTO calls (trace_id, span_id, parent_span_id, start_ns, end_ns, namespace, session_id, pod,
  kind, operation, provider, model, tool_name, tool_type, api_host, input_tokens, output_tokens,
  cache_read_tokens, cache_creation_tokens, reasoning_tokens, error_type, cost_nano,
  unpriced_reason, policy, policy_generation, tag_set)
SELECT decode(t, 'hex'), decode(s, 'hex'), decode(p, 'hex'), st, en, ns, sid, pod, k, op, pr, mo,
  tn, tt, ah, it, ot, cr, cc, rt, et, co, ur, $24, $25, ts
FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::text[], $7::text[],
  $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[],
  $15::text[], $16::int8[], $17::int8[], $18::int8[], $19::int8[], $20::int8[], $21::text[],
  $22::int8[], $23::text[], $26::int4[])
  AS u(t, s, p, st, en, ns, sid, pod, k, op, pr, mo, tn, tt, ah, it, ot, cr, cc, rt, et, co, ur, ts)
ON CONFLICT (trace_id, span_id) DO NOTHING`;

const UPSERT_SESSIONS = `
INSERT INTO session_totals (namespace, session_id, day, infra_nano, tokens_nano, tools_nano,
  apis_nano, total_nano, calls, unpriced_calls, input_tokens, output_tokens, cache_read_tokens,
  cpu_ns, memory_byte_seconds, first_ns, last_ns)
SELECT * FROM unnest($1::text[], $2::text[], $3::int4[], $4::numeric[], $5::numeric[],
  $6::numeric[], $7::numeric[], $8::numeric[], $9::int8[], $10::int8[], $11::int8[], $12::int8[],
  $13::int8[], $14::int8[], $15::int8[], $16::int8[], $17::int8[])
ON CONFLICT (namespace, session_id, day) DO UPDATE SET
  infra_nano = session_totals.infra_nano + excluded.infra_nano,
  tokens_nano = session_totals.tokens_nano + excluded.tokens_nano,
  tools_nano = session_totals.tools_nano + excluded.tools_nano,
  apis_nano = session_totals.apis_nano + excluded.apis_nano,
  total_nano = session_totals.total_nano + excluded.total_nano,
  calls = session_totals.calls + excluded.calls,
  unpriced_calls = session_totals.unpriced_calls + excluded.unpriced_calls,
  input_tokens = session_totals.input_tokens + excluded.input_tokens,
  output_tokens = session_totals.output_tokens + excluded.output_tokens,
  cache_read_tokens = session_totals.cache_read_tokens + excluded.cache_read_tokens,
  cpu_ns = session_totals.cpu_ns + excluded.cpu_ns,
  memory_byte_seconds = session_totals.memory_byte_seconds + excluded.memory_byte_seconds,
  first_ns = least(session_totals.first_ns, excluded.first_ns),
  last_ns = greatest(session_totals.last_ns, excluded.last_ns)`;

const UPSERT_BUDGETS = `
INSERT INTO budget_sums (policy, budget, period_start_ns, scope_key, spend_nano)
SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::numeric[])
ON CONFLICT (policy, budget, period_start_ns, scope_key) DO UPDATE SET
  spend_nano = budget_sums.spend_nano + excluded.spend_nano`;

const UPSERT_ROLLUPS = `
INSERT INTO daily_rollups (day, policy, namespace, tag_set, kind, item, cost_nano, calls,
  input_tokens, output_tokens)
SELECT * FROM unnest($1::int4[], $2::text[], $3::text[], $4::int4[], $5::text[], $6::text[],
  $7::numeric[], $8::int8[], $9::int8[], $10::int8[])
ON CONFLICT (day, policy, namespace, tag_set, kind, item) DO UPDATE SET
  cost_nano = daily_rollups.cost_nano + excluded.cost_nano,
  calls = daily_rollups.calls + excluded.calls,
  input_tokens = daily_rollups.input_tokens + excluded.input_tokens,
  output_tokens = daily_rollups.output_tokens + excluded.output_tokens`;

const MOVE_CURSOR = `
INSERT INTO ledger_cursors (node, agent_id, last_seq, last_hash, updated_ns)
VALUES ($1, $2, $4, $5, $6)
ON CONFLICT (node) DO UPDATE SET agent_id = excluded.agent_id, last_seq = excluded.last_seq,
  last_hash = excluded.last_hash, updated_ns = excluded.updated_ns
WHERE ledger_cursors.last_seq = $3`;

export class PostgresStore implements Store {
  private readonly db: SqlConnection;
  private readonly policyGeneration: bigint;

  constructor(db: SqlConnection, policyGeneration: bigint) {
    this.db = db;
    this.policyGeneration = policyGeneration;
  }

  async version(): Promise<string> {
    return (await this.db.query<{ v: string }>('SELECT version() AS v')).rows[0]?.v ?? '';
  }

  async migrate(): Promise<number> {
    await this.db.query(MIGRATIONS_TABLE);
    return this.db.transaction(async (tx) => {
      // One migrator at a time (two operator replicas may start together).
      await tx.query('LOCK TABLE schema_migrations IN EXCLUSIVE MODE');
      const done = await tx.query<{ version: number }>('SELECT version FROM schema_migrations');
      const have = new Set(done.rows.map((r) => Number(r.version)));
      let applied = 0;
      for (const m of MIGRATIONS) {
        if (have.has(m.version)) continue;
        await tx.exec(m.postgres);
        await tx.query(
          'INSERT INTO schema_migrations (version, name, applied_ns) VALUES ($1, $2, $3)',
          [m.version, m.name, (BigInt(Date.now()) * 1_000_000n).toString()],
        );
        applied++;
      }
      return applied;
    });
  }

  async registerTagSets(sets: readonly TagSet[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (const set of sets) {
        await tx.query('INSERT INTO tag_sets (id, tags) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
          set.id,
          JSON.stringify(set.tags),
        ]);
        for (const [key, value] of Object.entries(set.tags)) {
          await tx.query(
            'INSERT INTO tag_set_members (tag_set, key, value) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
            [set.id, key, value],
          );
        }
      }
    });
  }

  async apply(pull: Pull, d: PullDeltas, cursor: CursorMove): Promise<void> {
    const c = pull.calls;
    await this.db.transaction(async (tx) => {
      const moved = await tx.query(MOVE_CURSOR, [
        cursor.node,
        cursor.agentId,
        cursor.afterSeq.toString(),
        cursor.toSeq.toString(),
        cursor.hash,
        (BigInt(Date.now()) * 1_000_000n).toString(),
      ]);
      if (moved.rowCount !== 1) {
        throw new CursorConflictError(`cursor of ${cursor.node} is not at ${cursor.afterSeq}`);
      }
      const inserted = await tx.query(INSERT_CALLS, [
        c.traceId,
        c.spanId,
        c.parentSpanId,
        str(c.startNs),
        str(c.endNs),
        c.namespace,
        c.sessionId,
        c.pod,
        c.kind,
        c.operation,
        c.provider,
        c.model,
        c.toolName,
        c.toolType,
        c.apiHost,
        str(c.inputTokens),
        str(c.outputTokens),
        str(c.cacheReadTokens),
        str(c.cacheCreationTokens),
        str(c.reasoningTokens),
        c.errorType,
        str(c.costNano),
        c.unpricedReason,
        'bench',
        this.policyGeneration.toString(),
        c.tagSet,
      ]);
      // The operator would re-derive the deltas without the repeats; the bench has none.
      if (inserted.rowCount !== c.traceId.length) {
        throw new DuplicateCallsError(
          `${c.traceId.length - inserted.rowCount} calls of the pull were already stored`,
        );
      }
      const s = d.sessions;
      await tx.query(UPSERT_SESSIONS, [
        s.map((x) => x.namespace),
        s.map((x) => x.sessionId),
        s.map((x) => x.day),
        str(s.map((x) => x.infraNano)),
        str(s.map((x) => x.tokensNano)),
        str(s.map((x) => x.toolsNano)),
        str(s.map((x) => x.apisNano)),
        str(s.map((x) => x.totalNano)),
        str(s.map((x) => x.calls)),
        str(s.map((x) => x.unpricedCalls)),
        str(s.map((x) => x.inputTokens)),
        str(s.map((x) => x.outputTokens)),
        str(s.map((x) => x.cacheReadTokens)),
        str(s.map((x) => x.cpuNs)),
        str(s.map((x) => x.memoryByteSeconds)),
        str(s.map((x) => x.firstNs)),
        str(s.map((x) => x.lastNs)),
      ]);
      const b = d.budgets;
      await tx.query(UPSERT_BUDGETS, [
        b.map((x) => x.policy),
        b.map((x) => x.budget),
        str(b.map((x) => x.periodStartNs)),
        b.map((x) => x.scopeKey),
        str(b.map((x) => x.nano)),
      ]);
      const r = d.rollups;
      await tx.query(UPSERT_ROLLUPS, [
        r.map((x) => x.day),
        r.map((x) => x.policy),
        r.map((x) => x.namespace),
        r.map((x) => x.tagSet),
        r.map((x) => x.kind),
        r.map((x) => x.item),
        str(r.map((x) => x.costNano)),
        str(r.map((x) => x.calls)),
        str(r.map((x) => x.inputTokens)),
        str(r.map((x) => x.outputTokens)),
      ]);
    });
  }

  async session(namespace: string, id: string): Promise<SessionTotal | undefined> {
    const r = await this.db.query<{ total: string; infra: string; calls: string; days: string }>(
      `SELECT sum(total_nano)::text AS total, sum(infra_nano)::text AS infra,
         sum(calls)::text AS calls, count(*)::text AS days
       FROM session_totals WHERE namespace = $1 AND session_id = $2`,
      [namespace, id],
    );
    const row = r.rows[0];
    if (row === undefined || row.total === null) return undefined;
    return { totalNano: row.total, infraNano: row.infra, calls: row.calls, days: Number(row.days) };
  }

  async topFromBudget(budget: string, periodStartNs: bigint, n: number): Promise<Ranked[]> {
    const r = await this.db.query<Ranked>(
      `SELECT scope_key AS key, spend_nano::text AS nano FROM budget_sums
       WHERE policy = 'bench' AND budget = $1 AND period_start_ns = $2
       ORDER BY spend_nano DESC LIMIT $3`,
      [budget, periodStartNs.toString(), n],
    );
    return r.rows;
  }

  async topFromDays(fromDay: number, toDay: number, n: number): Promise<Ranked[]> {
    const r = await this.db.query<Ranked>(
      `SELECT namespace || '/' || session_id AS key, sum(total_nano)::text AS nano
       FROM session_totals WHERE day >= $1 AND day < $2
       GROUP BY namespace, session_id ORDER BY sum(total_nano) DESC LIMIT $3`,
      [fromDay, toDay, n],
    );
    return r.rows;
  }

  async scopeKeyCount(budget: string, periodStartNs: bigint): Promise<number> {
    const r = await this.db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM budget_sums
       WHERE policy = 'bench' AND budget = $1 AND period_start_ns = $2`,
      [budget, periodStartNs.toString()],
    );
    return Number(r.rows[0]?.n);
  }

  async chargebackFromRollups(fromDay: number, toDay: number, tagKey: string): Promise<Ranked[]> {
    const r = await this.db.query<Ranked>(
      `SELECT coalesce(m.value, '(untagged)') AS key, sum(r.cost_nano)::text AS nano
       FROM daily_rollups r LEFT JOIN tag_set_members m ON m.tag_set = r.tag_set AND m.key = $3
       WHERE r.day >= $1 AND r.day < $2 GROUP BY 1 ORDER BY 1`,
      [fromDay, toDay, tagKey],
    );
    return r.rows;
  }

  async chargebackFromCalls(fromNs: bigint, toNs: bigint, tagKey: string): Promise<Ranked[]> {
    const r = await this.db.query<Ranked>(
      `SELECT coalesce(m.value, '(untagged)') AS key, sum(c.cost_nano)::text AS nano
       FROM calls c LEFT JOIN tag_set_members m ON m.tag_set = c.tag_set AND m.key = $3
       WHERE c.start_ns >= $1 AND c.start_ns < $2 GROUP BY 1 ORDER BY 1`,
      [fromNs.toString(), toNs.toString(), tagKey],
    );
    return r.rows;
  }

  async totals(budget: string): Promise<{ budget: string; sessions: string; rollups: string }> {
    const r = await this.db.query<{ budget: string; sessions: string; rollups: string }>(
      `SELECT (SELECT sum(spend_nano) FROM budget_sums WHERE budget = $1)::text AS budget,
              (SELECT sum(total_nano) FROM session_totals)::text AS sessions,
              (SELECT sum(cost_nano) FROM daily_rollups)::text AS rollups`,
      [budget],
    );
    return r.rows[0] as { budget: string; sessions: string; rollups: string };
  }

  async deleteCallsBefore(ns: bigint): Promise<number> {
    const r = await this.db.query('DELETE FROM calls WHERE start_ns < $1', [ns.toString()]);
    return r.rowCount;
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
