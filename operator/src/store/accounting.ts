// The operator's accounting in SQL: what a collection round adds (cursor moves, budget sums,
// session totals, daily rollups, call records) commits in one transaction, and the questions
// status, the CLI and reports ask are queries. The same statements run on both engines.
import type { SqlEngine, SqlRunner, SqlValue } from './engine.ts';
import { int } from './engine.ts';
import { migrate } from './migrate.ts';

export type Tags = Readonly<Record<string, string>>;

export interface LedgerPoint {
  readonly seq: bigint;
  readonly hash: string;
}

export interface CursorMove {
  readonly node: string;
  /** Where the round found the cursor; null: the store had none for this node. */
  readonly from: LedgerPoint | null;
  readonly to: LedgerPoint;
}

export interface BudgetDelta {
  readonly budget: string;
  readonly periodStartNs: bigint;
  /** '' for Policy scope, the namespace, or "namespace/session-id". */
  readonly scopeKey: string;
  readonly nano: bigint;
}

/** A session's spend by kind, its calls and tokens, and when its activity began and ended. */
export interface SessionSums {
  readonly namespace: string;
  readonly sessionId: string;
  readonly infraNano: bigint;
  readonly tokensNano: bigint;
  readonly toolsNano: bigint;
  readonly apisNano: bigint;
  readonly calls: bigint;
  readonly unpricedCalls: bigint;
  readonly inputTokens: bigint;
  readonly outputTokens: bigint;
  readonly firstNs: bigint;
  readonly lastNs: bigint;
}

/** What one round adds to a session's row of one day. */
export interface SessionDelta extends SessionSums {
  /** Unix day (UTC) the spend falls on. */
  readonly day: number;
}

/** A session that incurred cost in a report period (what CostReports count). */
export interface PeriodSession {
  /** The period's spec key (period/timeZone). */
  readonly spec: string;
  readonly periodStartNs: bigint;
  readonly namespace: string;
  readonly sessionId: string;
}

export type RollupKind = 'infra' | 'model' | 'tool' | 'api';

export interface RollupDelta {
  readonly day: number;
  readonly namespace: string;
  readonly tags: Tags;
  readonly kind: RollupKind;
  /** Model, tool name or API host; '' for infrastructure. */
  readonly item: string;
  readonly costNano: bigint;
  readonly calls: bigint;
  readonly inputTokens: bigint;
  readonly outputTokens: bigint;
}

/** One leaf call (issue 16's fields); ids are lowercase hex as in OTLP JSON. */
export interface CallRecord {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | null;
  readonly toolCallId: string | null;
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly namespace: string;
  readonly sessionId: string | null;
  readonly pod: string;
  readonly kind: 'model' | 'tool' | 'api';
  readonly operation: string;
  readonly provider: string | null;
  readonly model: string | null;
  readonly toolName: string | null;
  readonly toolType: string | null;
  readonly apiHost: string | null;
  readonly inputTokens: bigint;
  readonly outputTokens: bigint;
  readonly cacheReadTokens: bigint;
  readonly cacheCreationTokens: bigint;
  readonly reasoningTokens: bigint;
  readonly errorType: string | null;
  /** null: unpriced, and unpricedReason says why. */
  readonly costNano: bigint | null;
  readonly unpricedReason: string | null;
  readonly policyGeneration: bigint;
  readonly tags: Tags;
}

/** A budget's sums of one period that start again from zero (its period, scope or time zone
 * changed while the period's start stayed the same). */
export interface BudgetReset {
  readonly budget: string;
  readonly periodStartNs: bigint;
}

/** Everything one collection round adds for one policy. */
export interface RoundCommit {
  readonly policy: string;
  readonly atNs: bigint;
  readonly cursors: readonly CursorMove[];
  /** The fold's state without its sums (budgets/state.ts encoding); undefined: unchanged. */
  readonly state?: string;
  /** With `state`: entries measured before this (ms) are not counted (see policy_state). */
  readonly countFromMs?: number;
  /** With `state`: the uid of the CostPolicy object counted for (see policy_state.policy_uid). */
  readonly uid?: string;
  /** Applied before `budgets`. */
  readonly resets?: readonly BudgetReset[];
  readonly budgets: readonly BudgetDelta[];
  readonly sessions: readonly SessionDelta[];
  /** Sessions the round counted into each period; rows already held are kept as they are. */
  readonly periodSessions?: readonly PeriodSession[];
  readonly rollups: readonly RollupDelta[];
  readonly calls: readonly CallRecord[];
}

export interface Ranked {
  readonly key: string;
  readonly nano: bigint;
}

export interface BudgetSummary {
  /** Scope keys with spend in the period. */
  readonly count: number;
  /** Scope keys whose spend reached the limit asked about. */
  readonly reachedLimit: number;
  readonly totalNano: bigint;
  /** Highest spend first; ties by key. */
  readonly top: readonly Ranked[];
}

/** Where a policy's collection stands: the fold's state (without sums) and the cursors. */
export interface PolicyPoint {
  /** '' when the store has none (a new policy, or a store that was lost). */
  readonly state: string;
  /** Entries measured before this are not counted; 0 unless the store was rebuilt. */
  readonly countFromMs: number;
  /** The uid of the CostPolicy object these rows were counted for; '' when not recorded. */
  readonly uid: string;
  readonly cursors: Map<string, LedgerPoint>;
}

/** A budget status asks about: its open period and its amount. */
export interface BudgetQuery {
  readonly budget: string;
  readonly periodStartNs: bigint;
  readonly limitNano: bigint;
  /** How many scope keys at or over the limit to list (Suspend budgets act on each). */
  readonly listReached: number;
}

export interface BudgetSnapshot extends BudgetSummary {
  readonly budget: string;
  /** Keys at or over the limit, highest first, at most `listReached`. */
  readonly reached: readonly Ranked[];
}

/** What one committed moment of a policy holds: cursors and budgets read together. */
export interface PolicySnapshot {
  readonly cursors: Map<string, LedgerPoint>;
  readonly budgets: readonly BudgetSnapshot[];
}

/** A session's totals summed over its days (all of them, or those in a range), as read back. */
export interface SessionRecord extends SessionSums {
  readonly totalNano: bigint;
}

export interface DayRange {
  readonly fromDay: number;
  /** Exclusive. */
  readonly toDay: number;
}

export interface ChargebackRow {
  /** The namespace or the tag's value; null: the entries did not carry the tag. */
  readonly key: string | null;
  readonly costNano: bigint;
  readonly calls: bigint;
}

export type Breakdown =
  | { readonly by: 'namespace' | 'model' | 'tool' | 'api' }
  | { readonly by: 'tag'; readonly tag: string };

export interface DailyRow extends ChargebackRow {
  /** Unix day (UTC). */
  readonly day: number;
}

export interface Retention {
  /** Calls that started before this are deleted. */
  readonly callsBeforeNs: bigint;
  /** Session totals and rollups of days before these are deleted. */
  readonly sessionsBeforeDay: number;
  readonly rollupsBeforeDay: number;
  /** Budget sums of periods that started before this are deleted (past periods: status,
   * enforcement and `report --sessions` read the open ones; CostReports hold the closed). */
  readonly budgetSumsBeforeNs: bigint;
}

/** Rows `retain` deleted, per table. */
export interface Pruned {
  readonly calls: number;
  readonly sessions: number;
  readonly rollups: number;
  readonly budgetSums: number;
  readonly periodSessions: number;
  readonly sessionMonths: number;
}

export interface RetentionDays {
  readonly calls: number;
  readonly sessions: number;
  readonly rollups: number;
}

/** Call rows a month, per-session days a quarter, daily rollups over two years. */
export const DEFAULT_RETENTION: RetentionDays = { calls: 30, sessions: 90, rollups: 800 };

const DAY_MS = 86_400_000;

/** A budget period (Monthly at most, in any time zone) starts fewer days than this before any
 * instant inside it, so sums of periods that started earlier belong to past periods. */
export const OPEN_PERIOD_MAX_DAYS = 33;

/** The cut-offs of `days` at `nowMs`: what is older than that many whole UTC days goes. Budget
 * sums go with the per-session days, but never those of a period that may still be open. */
export function retentionAt(nowMs: number, days: RetentionDays = DEFAULT_RETENTION): Retention {
  const today = Math.floor(nowMs / DAY_MS);
  const dayNs = BigInt(DAY_MS) * 1_000_000n;
  return {
    callsBeforeNs: BigInt(today - days.calls) * dayNs,
    sessionsBeforeDay: today - days.sessions,
    rollupsBeforeDay: today - days.rollups,
    budgetSumsBeforeNs: BigInt(today - Math.max(days.sessions, OPEN_PERIOD_MAX_DAYS)) * dayNs,
  };
}

/** The tables of the store, as the size metric names them; those that refer to a tag set come
 * before tag_sets. */
export const STORE_TABLES = [
  'ledger_cursors',
  'policy_state',
  'budget_sums',
  'period_sessions',
  'session_totals',
  'session_months',
  'calls',
  'daily_rollups',
  'tag_set_members',
  'tag_sets',
] as const;
export type StoreTable = (typeof STORE_TABLES)[number];

export class CursorConflictError extends Error {
  override readonly name = 'CursorConflictError';
}

export class DuplicateCallError extends Error {
  override readonly name = 'DuplicateCallError';
}

const CALL_COLUMNS = `policy, trace_id, span_id, parent_span_id, tool_call_id, start_ns, end_ns,
  namespace, session_id, pod, kind, operation, provider, model, tool_name, tool_type, api_host,
  input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, reasoning_tokens,
  error_type, cost_nano, unpriced_reason, policy_generation, tag_set`;

const SESSION_SUMS = `sum(infra_nano) AS infra, sum(tokens_nano) AS tokens,
  sum(tools_nano) AS tools, sum(apis_nano) AS apis, sum(total_nano) AS total, sum(calls) AS calls,
  sum(unpriced_calls) AS unpriced, sum(input_tokens) AS input, sum(output_tokens) AS output,
  min(first_ns) AS first, max(last_ns) AS last`;

/** topSessions of a calendar month: $1 policy, $2 and $3 the month's days, $4 a namespace or
 * '', $5 how many. The month's top from session_months' index, then those sessions' days
 * (CROSS JOIN: SQLite keeps the top as the outer loop; left to itself it scanned every session
 * of the policy and looked each up in the top). */
export const TOP_SESSIONS_OF_MONTH = `SELECT t.namespace, t.session_id, ${SESSION_SUMS}
  FROM (SELECT namespace, session_id FROM session_months
        WHERE policy = $1 AND month_day = $2 AND ($4 = '' OR namespace = $4)
        ORDER BY total_nano DESC, namespace, session_id LIMIT $5) AS m
  CROSS JOIN session_totals t
  WHERE t.policy = $1 AND t.namespace = m.namespace AND t.session_id = m.session_id
    AND t.day >= $2 AND t.day < $3
  GROUP BY t.namespace, t.session_id
  ORDER BY sum(t.total_nano) DESC, t.namespace, t.session_id`;

/** topSessions of any other day range (same parameters): every session of the range summed. */
export const TOP_SESSIONS_OF_DAYS = `SELECT namespace, session_id, ${SESSION_SUMS} FROM session_totals
  WHERE policy = $1 AND day >= $2 AND day < $3 AND ($4 = '' OR namespace = $4)
  GROUP BY namespace, session_id ORDER BY sum(total_nano) DESC, namespace, session_id
  LIMIT $5`;

export const sessionKey = (d: SessionDelta): string => `${d.namespace}\n${d.sessionId}\n${d.day}`;

/** The calendar month (UTC) unix day `day` falls in, as unix days. */
export function calendarMonth(day: number): DayRange {
  const d = new Date(day * DAY_MS);
  return {
    fromDay: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) / DAY_MS,
    toDay: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) / DAY_MS,
  };
}

/** Each session's total per calendar month of `deltas`, keyed by month, namespace and id. */
export function sessionMonths(
  deltas: Iterable<SessionDelta>,
): { monthDay: number; namespace: string; sessionId: string; totalNano: bigint }[] {
  const out = new Map<
    string,
    { monthDay: number; namespace: string; sessionId: string; totalNano: bigint }
  >();
  for (const d of deltas) {
    const monthDay = calendarMonth(d.day).fromDay;
    const total = d.infraNano + d.tokensNano + d.toolsNano + d.apisNano;
    const key = `${monthDay}\n${d.namespace}\n${d.sessionId}`;
    const have = out.get(key);
    if (have === undefined) {
      out.set(key, { monthDay, namespace: d.namespace, sessionId: d.sessionId, totalNano: total });
    } else {
      have.totalNano += total;
    }
  }
  return [...out.values()];
}

/** The keys of `T` whose values are bigint. */
type BigintKey<T> = { [K in keyof T]: T[K] extends bigint ? K : never }[keyof T];

/** `a` with each of `keys` summed with `b`'s; every other field is `a`'s. */
function withSums<T extends object>(a: T, b: T, keys: readonly BigintKey<T>[]): T {
  const sums = Object.fromEntries(keys.map((k) => [k, (a[k] as bigint) + (b[k] as bigint)]));
  return { ...a, ...sums };
}

const SESSION_SUMMED = [
  'infraNano',
  'tokensNano',
  'toolsNano',
  'apisNano',
  'calls',
  'unpricedCalls',
  'inputTokens',
  'outputTokens',
] as const;

export function addSessions(a: SessionDelta, b: SessionDelta): SessionDelta {
  return {
    ...withSums(a, b, SESSION_SUMMED),
    firstNs: a.firstNs < b.firstNs ? a.firstNs : b.firstNs,
    lastNs: a.lastNs > b.lastNs ? a.lastNs : b.lastNs,
  };
}

export const rollupKey = (d: RollupDelta): string =>
  `${d.day}\n${d.namespace}\n${canonicalTags(d.tags)}\n${d.kind}\n${d.item}`;

export function addRollups(a: RollupDelta, b: RollupDelta): RollupDelta {
  return withSums(a, b, ['costNano', 'calls', 'inputTokens', 'outputTokens']);
}

/** Adds `delta` into `map` under `key`, or stores it. Each key is written once per commit. */
export function mergeInto<T>(
  map: Map<string, T>,
  key: string,
  delta: T,
  add: (a: T, b: T) => T,
): void {
  const have = map.get(key);
  map.set(key, have === undefined ? delta : add(have, delta));
}

export function canonicalTags(tags: Tags): string {
  return JSON.stringify(
    Object.fromEntries(Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : 1))),
  );
}

const bytes = (hex: string | null): Uint8Array | null =>
  hex === null ? null : Buffer.from(hex, 'hex');

const hex = (value: unknown): string | null =>
  value === null || value === undefined ? null : Buffer.from(value as Uint8Array).toString('hex');
const textOrNull = (value: unknown): string | null =>
  value === null || value === undefined ? null : String(value);

function callFromRow(r: Record<string, unknown>): CallRecord {
  return {
    traceId: hex(r.trace_id) ?? '',
    spanId: hex(r.span_id) ?? '',
    parentSpanId: hex(r.parent_span_id),
    toolCallId: textOrNull(r.tool_call_id),
    startNs: int(r.start_ns),
    endNs: int(r.end_ns),
    namespace: String(r.namespace),
    sessionId: textOrNull(r.session_id),
    pod: String(r.pod),
    kind: String(r.kind) as CallRecord['kind'],
    operation: String(r.operation),
    provider: textOrNull(r.provider),
    model: textOrNull(r.model),
    toolName: textOrNull(r.tool_name),
    toolType: textOrNull(r.tool_type),
    apiHost: textOrNull(r.api_host),
    inputTokens: int(r.input_tokens),
    outputTokens: int(r.output_tokens),
    cacheReadTokens: int(r.cache_read_tokens),
    cacheCreationTokens: int(r.cache_creation_tokens),
    reasoningTokens: int(r.reasoning_tokens),
    errorType: textOrNull(r.error_type),
    costNano: r.cost_nano === null || r.cost_nano === undefined ? null : int(r.cost_nano),
    unpricedReason: textOrNull(r.unpriced_reason),
    policyGeneration: int(r.policy_generation),
    tags: JSON.parse(String(r.tags_json ?? '{}')) as Tags,
  };
}

function sessionRecord(
  namespace: string,
  sessionId: string,
  r: Record<string, unknown>,
): SessionRecord {
  return {
    namespace,
    sessionId,
    infraNano: int(r.infra),
    tokensNano: int(r.tokens),
    toolsNano: int(r.tools),
    apisNano: int(r.apis),
    totalNano: int(r.total),
    calls: int(r.calls),
    unpricedCalls: int(r.unpriced),
    inputTokens: int(r.input),
    outputTokens: int(r.output),
    firstNs: int(r.first),
    lastNs: int(r.last),
  };
}

async function readCursors(db: SqlRunner, policy: string): Promise<Map<string, LedgerPoint>> {
  const rows = await db.query<{ node: string; seq: unknown; hash: string }>(
    'SELECT node, seq, hash FROM ledger_cursors WHERE policy = $1 ORDER BY node',
    [policy],
  );
  return new Map(rows.map((r) => [r.node, { seq: int(r.seq), hash: r.hash }]));
}

/**
 * Every transaction that writes or reads a policy's round takes its policy_state row first
 * (creating it empty if need be): on PostgreSQL the row lock makes them take turns, so what one
 * reads after it is one committed round; SQLite's BEGIN IMMEDIATE already admits one writer.
 */
function lockPolicy(tx: SqlRunner, policy: string): Promise<number> {
  return writeState(tx, policy, 0n);
}

function writeState(
  tx: SqlRunner,
  policy: string,
  atNs: bigint,
  state?: string,
  countFromMs = 0,
  uid = '',
): Promise<number> {
  return state === undefined
    ? tx.run(
        `INSERT INTO policy_state (policy, state, count_from_ms, updated_ns) VALUES ($1, '', 0, $2)
         ON CONFLICT (policy) DO UPDATE SET updated_ns = policy_state.updated_ns`,
        [policy, atNs],
      )
    : tx.run(
        `INSERT INTO policy_state (policy, state, count_from_ms, updated_ns, policy_uid)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (policy) DO UPDATE SET state = excluded.state,
           count_from_ms = excluded.count_from_ms, updated_ns = excluded.updated_ns,
           policy_uid = excluded.policy_uid`,
        [policy, state, countFromMs, atNs, uid],
      );
}

/** Which budget period `summarise` reads, the limit it counts against, and how many top keys. */
type SummaryArgs = [
  policy: string,
  budget: string,
  periodStartNs: bigint,
  limitNano: bigint,
  n: number,
];

/**
 * What status needs of a budget: the number of scope keys, how many reached `limitNano`, the
 * total and the top `n` keys. Bounded work whatever the number of keys (an index on spend).
 */
async function summarise(
  db: SqlRunner,
  ...[policy, budget, periodStartNs, limitNano, n]: SummaryArgs
): Promise<BudgetSummary> {
  const params = [policy, budget, periodStartNs];
  const [agg] = await db.query<{ n: unknown; reached: unknown; total: unknown }>(
    `SELECT count(*) AS n, sum(CASE WHEN spend_nano >= $4 THEN 1 ELSE 0 END) AS reached,
       sum(spend_nano) AS total
     FROM budget_sums WHERE policy = $1 AND budget = $2 AND period_start_ns = $3`,
    [...params, limitNano],
  );
  const top = await db.query<{ scope_key: string; spend_nano: unknown }>(
    `SELECT scope_key, spend_nano FROM budget_sums
     WHERE policy = $1 AND budget = $2 AND period_start_ns = $3
     ORDER BY spend_nano DESC, scope_key LIMIT $4`,
    [...params, n],
  );
  return {
    count: Number(int(agg?.n)),
    reachedLimit: Number(int(agg?.reached)),
    totalNano: int(agg?.total),
    top: top.map((r) => ({ key: r.scope_key, nano: int(r.spend_nano) })),
  };
}

export class AccountingStore {
  /** Canonical tag JSON → tag_sets.id; ids never change once assigned. */
  private readonly tagSetIds = new Map<string, bigint>();

  readonly engine: SqlEngine;

  constructor(engine: SqlEngine) {
    this.engine = engine;
  }

  /** Brings the schema to the newest version; returns the versions applied now. */
  migrate(): Promise<number[]> {
    return migrate(this.engine);
  }

  cursors(policy: string, db: SqlRunner = this.engine): Promise<Map<string, LedgerPoint>> {
    return readCursors(db, policy);
  }

  /** The fold's state and the cursors of `policy`, as one committed round left them. */
  async point(policy: string): Promise<PolicyPoint> {
    return this.engine.transaction(async (tx) => {
      await lockPolicy(tx, policy);
      const [row] = await tx.query<{ state: string; count_from_ms: unknown; policy_uid: string }>(
        'SELECT state, count_from_ms, policy_uid FROM policy_state WHERE policy = $1',
        [policy],
      );
      return {
        state: row?.state ?? '',
        countFromMs: Number(int(row?.count_from_ms)),
        uid: row?.policy_uid ?? '',
        cursors: await readCursors(tx, policy),
      };
    });
  }

  /**
   * Drops what the store counted for an earlier policy of this name: its state, cursors,
   * budget sums and report periods' sessions, so the policy now of that name starts afresh. Its
   * calls, session totals and rollups stay: they are the history of spend under the name.
   */
  async forget(policy: string): Promise<void> {
    await this.engine.transaction(async (tx) => {
      await lockPolicy(tx, policy);
      await tx.run('DELETE FROM ledger_cursors WHERE policy = $1', [policy]);
      await tx.run('DELETE FROM budget_sums WHERE policy = $1', [policy]);
      await tx.run('DELETE FROM period_sessions WHERE policy = $1', [policy]);
      await tx.run('DELETE FROM policy_state WHERE policy = $1', [policy]);
    });
  }

  /** Cursors and budget summaries of `policy` read in one transaction, so status shows a
   * moment the store really held: spend is exactly what the cursors cover. */
  async snapshot(
    policy: string,
    budgets: readonly BudgetQuery[],
    top: number,
  ): Promise<PolicySnapshot> {
    return this.engine.transaction(async (tx) => {
      await lockPolicy(tx, policy);
      const out: BudgetSnapshot[] = [];
      for (const b of budgets) {
        const summary = await summarise(tx, policy, b.budget, b.periodStartNs, b.limitNano, top);
        const reached =
          b.listReached > 0 && summary.reachedLimit > 0
            ? await tx.query<{ scope_key: string; spend_nano: unknown }>(
                `SELECT scope_key, spend_nano FROM budget_sums
                 WHERE policy = $1 AND budget = $2 AND period_start_ns = $3 AND spend_nano >= $4
                 ORDER BY spend_nano DESC, scope_key LIMIT $5`,
                [policy, b.budget, b.periodStartNs, b.limitNano, b.listReached],
              )
            : [];
        out.push({
          ...summary,
          budget: b.budget,
          reached: reached.map((r) => ({ key: r.scope_key, nano: int(r.spend_nano) })),
        });
      }
      return { cursors: await readCursors(tx, policy), budgets: out };
    });
  }

  /**
   * Commits one round: every cursor moves from where the round found it, or nothing is
   * written (CursorConflictError: another replica or an earlier attempt moved it first).
   */
  async commit(round: RoundCommit): Promise<void> {
    const created = new Map<string, bigint>();
    await this.engine.transaction(async (tx) => {
      await writeState(tx, round.policy, round.atNs, round.state, round.countFromMs, round.uid);
      for (const c of round.cursors) await this.moveCursor(tx, round.policy, round.atNs, c);
      for (const r of round.resets ?? []) {
        await tx.run(
          'DELETE FROM budget_sums WHERE policy = $1 AND budget = $2 AND period_start_ns = $3',
          [round.policy, r.budget, r.periodStartNs],
        );
      }
      await this.addBudgets(tx, round.policy, round.budgets);
      await this.addSessions(tx, round.policy, round.sessions);
      await tx.insertMany(
        'INSERT INTO period_sessions (policy, period_spec, period_start_ns, namespace, session_id)',
        5,
        'ON CONFLICT DO NOTHING',
        (round.periodSessions ?? []).map((p) => [
          round.policy,
          p.spec,
          p.periodStartNs,
          p.namespace,
          p.sessionId,
        ]),
      );
      await this.addRollups(tx, round.policy, round.rollups, created);
      await this.addCalls(tx, round.policy, round.calls, created);
    });
    // Only committed tag sets are remembered: a rolled-back round's ids do not exist.
    for (const [tags, id] of created) this.tagSetIds.set(tags, id);
  }

  private async moveCursor(
    tx: SqlRunner,
    policy: string,
    atNs: bigint,
    c: CursorMove,
  ): Promise<void> {
    let moved: number;
    if (c.from === null) {
      moved = await tx.run(
        `INSERT INTO ledger_cursors (policy, node, seq, hash, updated_ns) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (policy, node) DO NOTHING`,
        [policy, c.node, c.to.seq, c.to.hash, atNs],
      );
    } else {
      moved = await tx.run(
        `UPDATE ledger_cursors SET seq = $3, hash = $4, updated_ns = $5
         WHERE policy = $1 AND node = $2 AND seq = $6 AND hash = $7`,
        [policy, c.node, c.to.seq, c.to.hash, atNs, c.from.seq, c.from.hash],
      );
    }
    if (moved !== 1) {
      const from = c.from === null ? 'no cursor' : `${c.from.seq}`;
      throw new CursorConflictError(
        `policy ${policy}: the cursor of node ${c.node} is no longer at ${from}; the round is dropped and collected again`,
      );
    }
  }

  private async addBudgets(
    tx: SqlRunner,
    policy: string,
    deltas: readonly BudgetDelta[],
  ): Promise<void> {
    const merged = new Map<string, BudgetDelta>();
    for (const d of deltas) {
      mergeInto(merged, `${d.budget}\n${d.periodStartNs}\n${d.scopeKey}`, d, (a, b) => ({
        ...a,
        nano: a.nano + b.nano,
      }));
    }
    await tx.insertMany(
      'INSERT INTO budget_sums (policy, budget, period_start_ns, scope_key, spend_nano)',
      5,
      `ON CONFLICT (policy, budget, period_start_ns, scope_key) DO UPDATE SET
         spend_nano = budget_sums.spend_nano + excluded.spend_nano`,
      [...merged.values()].map((d) => [policy, d.budget, d.periodStartNs, d.scopeKey, d.nano]),
    );
  }

  private async addSessions(
    tx: SqlRunner,
    policy: string,
    deltas: readonly SessionDelta[],
  ): Promise<void> {
    const merged = new Map<string, SessionDelta>();
    for (const d of deltas) mergeInto(merged, sessionKey(d), d, addSessions);
    const add = (c: string): string => `${c} = session_totals.${c} + excluded.${c}`;
    await tx.insertMany(
      `INSERT INTO session_totals (policy, namespace, session_id, day, infra_nano, tokens_nano,
         tools_nano, apis_nano, total_nano, calls, unpriced_calls, input_tokens, output_tokens,
         first_ns, last_ns)`,
      15,
      `ON CONFLICT (policy, namespace, session_id, day) DO UPDATE SET
         ${['infra_nano', 'tokens_nano', 'tools_nano', 'apis_nano', 'total_nano', 'calls', 'unpriced_calls', 'input_tokens', 'output_tokens'].map(add).join(', ')},
         first_ns = CASE WHEN excluded.first_ns < session_totals.first_ns
           THEN excluded.first_ns ELSE session_totals.first_ns END,
         last_ns = CASE WHEN excluded.last_ns > session_totals.last_ns
           THEN excluded.last_ns ELSE session_totals.last_ns END`,
      [...merged.values()].map((d) => [
        policy,
        d.namespace,
        d.sessionId,
        d.day,
        d.infraNano,
        d.tokensNano,
        d.toolsNano,
        d.apisNano,
        d.infraNano + d.tokensNano + d.toolsNano + d.apisNano,
        d.calls,
        d.unpricedCalls,
        d.inputTokens,
        d.outputTokens,
        d.firstNs,
        d.lastNs,
      ]),
    );
    await tx.insertMany(
      'INSERT INTO session_months (policy, month_day, namespace, session_id, total_nano)',
      5,
      `ON CONFLICT (policy, month_day, namespace, session_id) DO UPDATE SET
         total_nano = session_months.total_nano + excluded.total_nano`,
      sessionMonths(merged.values()).map((m) => [
        policy,
        m.monthDay,
        m.namespace,
        m.sessionId,
        m.totalNano,
      ]),
    );
  }

  /** The id of a tag set, created with its members the first time it is seen. */
  private async tagSetId(tx: SqlRunner, tags: Tags, created: Map<string, bigint>): Promise<bigint> {
    const canonical = canonicalTags(tags);
    const known = this.tagSetIds.get(canonical) ?? created.get(canonical);
    if (known !== undefined) return known;
    let [row] = await tx.query<{ id: unknown }>('SELECT id FROM tag_sets WHERE tags = $1', [
      canonical,
    ]);
    if (row === undefined) {
      [row] = await tx.query<{ id: unknown }>(
        'INSERT INTO tag_sets (tags) VALUES ($1) RETURNING id',
        [canonical],
      );
      const id = int(row?.id);
      await tx.insertMany(
        'INSERT INTO tag_set_members (tag_set, name, value)',
        3,
        '',
        Object.entries(tags).map(([name, value]) => [id, name, value]),
      );
    }
    const id = int(row?.id);
    created.set(canonical, id);
    return id;
  }

  private async addRollups(
    tx: SqlRunner,
    policy: string,
    deltas: readonly RollupDelta[],
    created: Map<string, bigint>,
  ): Promise<void> {
    const merged = new Map<string, RollupDelta>();
    for (const d of deltas) mergeInto(merged, rollupKey(d), d, addRollups);
    const rows: SqlValue[][] = [];
    for (const d of merged.values()) {
      rows.push([
        policy,
        d.day,
        d.namespace,
        await this.tagSetId(tx, d.tags, created),
        d.kind,
        d.item,
        d.costNano,
        d.calls,
        d.inputTokens,
        d.outputTokens,
      ]);
    }
    const add = (c: string): string => `${c} = daily_rollups.${c} + excluded.${c}`;
    await tx.insertMany(
      `INSERT INTO daily_rollups (policy, day, namespace, tag_set, kind, item, cost_nano, calls,
         input_tokens, output_tokens)`,
      10,
      `ON CONFLICT (policy, day, namespace, tag_set, kind, item) DO UPDATE SET
         ${['cost_nano', 'calls', 'input_tokens', 'output_tokens'].map(add).join(', ')}`,
      rows,
    );
  }

  private async addCalls(
    tx: SqlRunner,
    policy: string,
    calls: readonly CallRecord[],
    created: Map<string, bigint>,
  ): Promise<void> {
    const rows: SqlValue[][] = [];
    for (const c of calls) {
      rows.push([
        policy,
        bytes(c.traceId),
        bytes(c.spanId),
        bytes(c.parentSpanId),
        c.toolCallId,
        c.startNs,
        c.endNs,
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
        c.inputTokens,
        c.outputTokens,
        c.cacheReadTokens,
        c.cacheCreationTokens,
        c.reasoningTokens,
        c.errorType,
        c.costNano,
        c.unpricedReason,
        c.policyGeneration,
        await this.tagSetId(tx, c.tags, created),
      ]);
    }
    const inserted = await tx.insertMany(
      `INSERT INTO calls (${CALL_COLUMNS})`,
      27,
      'ON CONFLICT (policy, trace_id, span_id) DO NOTHING',
      rows,
    );
    // The agent deduplicates calls (issue 16); one that arrives again here was counted in the
    // sums of this round too, so the round is refused whole rather than counted twice.
    if (inserted !== rows.length) {
      throw new DuplicateCallError(
        `policy ${policy}: ${rows.length - inserted} of ${rows.length} calls of the round are already stored`,
      );
    }
  }

  /** Spend of one scope key (enforcement asks for one key). */
  async spend(
    policy: string,
    budget: string,
    periodStartNs: bigint,
    scopeKey: string,
  ): Promise<bigint> {
    const [row] = await this.engine.query<{ spend_nano: unknown }>(
      `SELECT spend_nano FROM budget_sums
       WHERE policy = $1 AND budget = $2 AND period_start_ns = $3 AND scope_key = $4`,
      [policy, budget, periodStartNs, scopeKey],
    );
    return int(row?.spend_nano);
  }

  /** The fold's state as the last committed round left it ('' if none); a read, no lock. */
  async state(policy: string): Promise<string> {
    const [row] = await this.engine.query<{ state: string }>(
      'SELECT state FROM policy_state WHERE policy = $1',
      [policy],
    );
    return row?.state ?? '';
  }

  /** Every scope key's spend in one budget period, by key (the report's session list). */
  async budgetSums(policy: string, budget: string, periodStartNs: bigint): Promise<Ranked[]> {
    const rows = await this.engine.query<{ scope_key: string; spend_nano: unknown }>(
      `SELECT scope_key, spend_nano FROM budget_sums
       WHERE policy = $1 AND budget = $2 AND period_start_ns = $3 ORDER BY scope_key`,
      [policy, budget, periodStartNs],
    );
    return rows.map((r) => ({ key: r.scope_key, nano: int(r.spend_nano) }));
  }

  /** One budget's summary for status (see summarise). */
  budgetSummary(...args: SummaryArgs): Promise<BudgetSummary> {
    return summarise(this.engine, ...args);
  }

  async session(
    policy: string,
    namespace: string,
    sessionId: string,
  ): Promise<SessionRecord | undefined> {
    const [row] = await this.engine.query(
      `SELECT count(*) AS days, ${SESSION_SUMS} FROM session_totals
       WHERE policy = $1 AND namespace = $2 AND session_id = $3`,
      [policy, namespace, sessionId],
    );
    if (row === undefined || int(row.days) === 0n) return undefined;
    return sessionRecord(namespace, sessionId, row);
  }

  /** A session's stored calls, oldest first, at most `limit` (the CLI's `session` command). */
  async sessionCalls(
    policy: string,
    namespace: string,
    sessionId: string,
    limit: number,
  ): Promise<CallRecord[]> {
    const rows = await this.engine.query(
      `SELECT c.*, t.tags AS tags_json FROM calls c JOIN tag_sets t ON t.id = c.tag_set
       WHERE c.policy = $1 AND c.namespace = $2 AND c.session_id = $3
       ORDER BY c.start_ns, c.trace_id, c.span_id LIMIT $4`,
      [policy, namespace, sessionId, limit],
    );
    return rows.map(callFromRow);
  }

  /** One session under every policy that counted it (the operator's session API). */
  async sessionPolicies(
    namespace: string,
    sessionId: string,
  ): Promise<{ policy: string; session: SessionRecord }[]> {
    const rows = await this.engine.query<{ policy: string }>(
      `SELECT policy, ${SESSION_SUMS} FROM session_totals
       WHERE namespace = $1 AND session_id = $2 GROUP BY policy ORDER BY policy`,
      [namespace, sessionId],
    );
    return rows.map((r) => ({ policy: r.policy, session: sessionRecord(namespace, sessionId, r) }));
  }

  /**
   * The `n` costliest sessions whose spend falls in the day range, optionally of one namespace.
   * A calendar month that retention left whole reads the top of session_months' index and sums
   * only those sessions' days; any other range sums and sorts every session of the range.
   */
  async topSessions(
    policy: string,
    range: DayRange,
    n: number,
    namespace?: string,
  ): Promise<SessionRecord[]> {
    const rows = await this.engine.query<{ namespace: string; session_id: string }>(
      (await this.wholeMonth(policy, range)) ? TOP_SESSIONS_OF_MONTH : TOP_SESSIONS_OF_DAYS,
      [policy, range.fromDay, range.toDay, namespace ?? '', n],
    );
    return rows.map((r) => sessionRecord(r.namespace, r.session_id, r));
  }

  /** Whether `range` is one calendar month whose session_months rows retention kept. */
  private async wholeMonth(policy: string, range: DayRange): Promise<boolean> {
    const month = calendarMonth(range.fromDay);
    if (month.fromDay !== range.fromDay || month.toDay !== range.toDay) return false;
    const rows = await this.engine.query(
      'SELECT 1 AS held FROM session_months WHERE policy = $1 AND month_day = $2 LIMIT 1',
      [policy, range.fromDay],
    );
    return rows.length > 0;
  }

  /** Spend in the day range grouped by namespace or by one allocation tag. */
  async chargeback(
    policy: string,
    range: DayRange,
    by: { readonly namespace: true } | { readonly tag: string },
  ): Promise<ChargebackRow[]> {
    const rows =
      'tag' in by
        ? await this.engine.query<{ key: string | null; cost: unknown; calls: unknown }>(
            `SELECT m.value AS key, sum(r.cost_nano) AS cost, sum(r.calls) AS calls
             FROM daily_rollups r LEFT JOIN tag_set_members m ON m.tag_set = r.tag_set AND m.name = $4
             WHERE r.policy = $1 AND r.day >= $2 AND r.day < $3
             GROUP BY m.value ORDER BY sum(r.cost_nano) DESC, m.value IS NULL, m.value`,
            [policy, range.fromDay, range.toDay, by.tag],
          )
        : await this.engine.query<{ key: string | null; cost: unknown; calls: unknown }>(
            `SELECT namespace AS key, sum(cost_nano) AS cost, sum(calls) AS calls
             FROM daily_rollups WHERE policy = $1 AND day >= $2 AND day < $3
             GROUP BY namespace ORDER BY sum(cost_nano) DESC, namespace`,
            [policy, range.fromDay, range.toDay],
          );
    return rows.map((r) => ({ key: r.key, costNano: int(r.cost), calls: int(r.calls) }));
  }

  /**
   * Spend per day and per group in the day range (reports and the FOCUS export): by namespace,
   * by one allocation tag (null: entries without it), or by model or tool name.
   */
  async dailyBreakdown(policy: string, range: DayRange, by: Breakdown): Promise<DailyRow[]> {
    const select =
      by.by === 'tag'
        ? `SELECT r.day AS day, m.value AS key, sum(r.cost_nano) AS cost, sum(r.calls) AS calls
           FROM daily_rollups r LEFT JOIN tag_set_members m ON m.tag_set = r.tag_set AND m.name = $4
           WHERE r.policy = $1 AND r.day >= $2 AND r.day < $3
           GROUP BY r.day, m.value ORDER BY r.day, m.value IS NULL, m.value`
        : by.by === 'namespace'
          ? `SELECT day, namespace AS key, sum(cost_nano) AS cost, sum(calls) AS calls
             FROM daily_rollups WHERE policy = $1 AND day >= $2 AND day < $3 AND $4 = ''
             GROUP BY day, namespace ORDER BY day, namespace`
          : `SELECT day, item AS key, sum(cost_nano) AS cost, sum(calls) AS calls
             FROM daily_rollups WHERE policy = $1 AND day >= $2 AND day < $3 AND kind = $4
             GROUP BY day, item ORDER BY day, item`;
    const arg = by.by === 'tag' ? by.tag : by.by === 'namespace' ? '' : by.by;
    const rows = await this.engine.query<{
      day: unknown;
      key: string | null;
      cost: unknown;
      calls: unknown;
    }>(select, [policy, range.fromDay, range.toDay, arg]);
    return rows.map((r) => ({
      day: Number(int(r.day)),
      key: r.key,
      costNano: int(r.cost),
      calls: int(r.calls),
    }));
  }

  /** Per namespace, how many sessions incurred cost in one report period of `policy`. */
  async periodSessionCounts(
    policy: string,
    spec: string,
    periodStartNs: bigint,
  ): Promise<Map<string, number>> {
    const rows = await this.engine.query<{ namespace: string; n: unknown }>(
      `SELECT namespace, count(*) AS n FROM period_sessions
       WHERE policy = $1 AND period_spec = $2 AND period_start_ns = $3 GROUP BY namespace`,
      [policy, spec, periodStartNs],
    );
    return new Map(rows.map((r) => [r.namespace, Number(int(r.n))]));
  }

  /** Deletes what has passed its retention; returns the rows deleted per table. */
  async retain(r: Retention): Promise<Pruned> {
    return this.engine.transaction(async (tx) => ({
      calls: await tx.run('DELETE FROM calls WHERE start_ns < $1', [r.callsBeforeNs]),
      sessions: await tx.run('DELETE FROM session_totals WHERE day < $1', [r.sessionsBeforeDay]),
      rollups: await tx.run('DELETE FROM daily_rollups WHERE day < $1', [r.rollupsBeforeDay]),
      budgetSums: await tx.run('DELETE FROM budget_sums WHERE period_start_ns < $1', [
        r.budgetSumsBeforeNs,
      ]),
      periodSessions: await tx.run('DELETE FROM period_sessions WHERE period_start_ns < $1', [
        r.budgetSumsBeforeNs,
      ]),
      // A month goes whole once its first day is past: a month still held keeps all its days.
      sessionMonths: await tx.run('DELETE FROM session_months WHERE month_day < $1', [
        r.sessionsBeforeDay,
      ]),
    }));
  }

  sizeBytes(): Promise<bigint> {
    return this.engine.sizeBytes();
  }

  /** Rows per table. Exact counts: a scan each, so the upkeep asks once in a while. */
  async rows(): Promise<Map<StoreTable, bigint>> {
    const out = new Map<StoreTable, bigint>();
    for (const table of STORE_TABLES) {
      const [row] = await this.engine.query<{ n: unknown }>(`SELECT count(*) AS n FROM ${table}`);
      out.set(table, int(row?.n));
    }
    return out;
  }

  close(): Promise<void> {
    return this.engine.close();
  }
}
