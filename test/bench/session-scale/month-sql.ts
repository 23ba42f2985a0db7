// A month of an agent platform generated inside the store engine, so 20,000,000 calls load in
// minutes: each chunk of sessions is one transaction that inserts the chunk's calls from a
// number series (generate_series on PostgreSQL, a recursive CTE on SQLite) and then adds the
// session totals, the Session budget's sums and the daily rollups from those rows, with the same
// upserts' arithmetic as a collection round. Session s has CALLS_PER_SESSION calls; its infra
// share is one nano-unit per µs of its calls' duration, so every table derives from the rows.
import type { Dialect, SqlEngine } from '../../../operator/src/store/engine.ts';
import { canonicalTags } from '../../../operator/src/store/accounting.ts';
import type { Tags } from '../../../operator/src/store/accounting.ts';

export const NAMESPACES = 50;
export const CALLS_PER_SESSION = 20;
export const AGENTS_PER_NAMESPACE = 4;
export const DAYS = 30;
export const DAY_NS = 86_400_000_000_000n;
/** 2026-11-01T00:00:00Z. */
export const MONTH_START_NS = 1_793_491_200_000_000_000n;
export const FIRST_DAY = Number(MONTH_START_NS / DAY_NS);
export const POLICY = 'platform';
export const BUDGET = 'per-session';

const U32 = 4_294_967_296n;

export const namespaceOf = (s: number): string =>
  `tenant-${String(s % NAMESPACES).padStart(2, '0')}`;

/** A UUID-shaped id, the same function as sessionIdSql. */
export function sessionIdOf(s: number): string {
  const b = BigInt(s);
  const hex = (x: bigint, width: number): string => x.toString(16).padStart(width, '0');
  return `${hex((b * 2_654_435_761n) % U32, 8)}-${hex((b * 40_503n) % 65_536n, 4)}-4${hex((b * 769n) % 4096n, 3)}-a${hex((b * 1543n) % 4096n, 3)}-${hex((b * 1_099_511_628_211n) % 281_474_976_710_656n, 12)}`;
}

/** Tag sets in creation order: id i+1 is tagSets()[i] on a fresh store. */
export function tagSets(): Tags[] {
  const out: Tags[] = [];
  for (let ns = 0; ns < NAMESPACES; ns++) {
    for (let a = 0; a < AGENTS_PER_NAMESPACE; a++) {
      out.push({
        'cost-center': `cc-${ns % 7}`,
        'gen_ai.agent.name': `agent-${a}`,
        team: `team-${ns % 10}`,
      });
    }
  }
  return out;
}

/** Session s's tags: the tag set the generator's SQL gives it (id - 1 indexes tagSets()). */
export function tagsOf(s: number, sets: readonly Tags[] = tagSets()): Tags {
  return sets[
    (s % NAMESPACES) * AGENTS_PER_NAMESPACE + (Math.floor(s / 7) % AGENTS_PER_NAMESPACE)
  ] as Tags;
}

/** Creates the tag sets (ids 1..200 on a fresh store) with their members. */
export async function createTagSets(engine: SqlEngine): Promise<void> {
  await engine.transaction(async (tx) => {
    for (const tags of tagSets()) {
      const [row] = await tx.query<{ id: unknown }>(
        'INSERT INTO tag_sets (tags) VALUES ($1) RETURNING id',
        [canonicalTags(tags)],
      );
      await tx.insertMany(
        'INSERT INTO tag_set_members (tag_set, name, value)',
        3,
        '',
        Object.entries(tags).map(([name, value]) => [row?.id as number, name, value]),
      );
    }
  });
}

/** SQL of the per-engine pieces; `s` and `c` are bigint column expressions. */
function pieces(d: Dialect): {
  hex: (x: string, width: number) => string;
  bytes: (x: string, width: number) => string;
  namespace: string;
} {
  if (d === 'postgres') {
    return {
      hex: (x, w) => `lpad(to_hex(${x}), ${w}, '0')`,
      bytes: (x, w) => `decode(lpad(to_hex(${x}), ${w}, '0'), 'hex')`,
      namespace: `'tenant-' || lpad((s % ${NAMESPACES})::text, 2, '0')`,
    };
  }
  return {
    hex: (x, w) => `printf('%0${w}x', ${x})`,
    bytes: (x, w) => `unhex(printf('%0${w}x', ${x}))`,
    namespace: `printf('tenant-%02d', s % ${NAMESPACES})`,
  };
}

function sessionIdSql(d: Dialect): string {
  const { hex } = pieces(d);
  return `${hex(`(s * 2654435761) % ${U32}`, 8)} || '-' || ${hex('(s * 40503) % 65536', 4)} || '-4' || ${hex('(s * 769) % 4096', 3)} || '-a' || ${hex('(s * 1543) % 4096', 3)} || '-' || ${hex('(s * 1099511628211) % 281474976710656', 12)}`;
}

/** Trace id of session s: its 16 bytes, big-endian (a chunk's calls are a trace-id range). */
export function traceIdOf(s: number): Buffer {
  return Buffer.from(s.toString(16).padStart(32, '0'), 'hex');
}

function insertCallsSql(d: Dialect, sessions: number): string {
  const p = pieces(d);
  const nsPerSession = (BigInt(DAYS) * DAY_NS) / BigInt(sessions);
  // r: a well-spread number per call; k picks the kind, m the model.
  const series =
    d === 'postgres'
      ? `SELECT c, c / ${CALLS_PER_SESSION} AS s, c % ${CALLS_PER_SESSION} AS j, (c * 2654435761) % 1000003 AS r
         FROM generate_series($1::bigint, $2::bigint - 1) AS g(c)`
      : `SELECT c, c / ${CALLS_PER_SESSION} AS s, c % ${CALLS_PER_SESSION} AS j, (c * 2654435761) % 1000003 AS r FROM g`;
  const prefix =
    d === 'postgres'
      ? ''
      : 'WITH RECURSIVE g(c) AS (SELECT $1 UNION ALL SELECT c + 1 FROM g WHERE c + 1 < $2) ';
  const model = `CASE r % 4 WHEN 0 THEN 'gpt-5' WHEN 1 THEN 'gpt-5-mini' WHEN 2 THEN 'claude-sonnet-4-5' ELSE 'claude-haiku-4-5' END`;
  const inPrice = `CASE r % 4 WHEN 0 THEN 1250 WHEN 1 THEN 250 WHEN 2 THEN 3000 ELSE 1000 END`;
  const outPrice = `CASE r % 4 WHEN 0 THEN 10000 WHEN 1 THEN 2000 WHEN 2 THEN 15000 ELSE 5000 END`;
  const kind = `CASE WHEN r % 100 < 70 THEN 'model' WHEN r % 100 < 95 THEN 'tool' ELSE 'api' END`;
  const input = `CASE WHEN r % 100 < 70 THEN 500 + r % 20000 ELSE 0 END`;
  const output = `CASE WHEN r % 100 < 70 THEN 50 + r % 2000 ELSE 0 END`;
  const start = `${MONTH_START_NS} + s * ${nsPerSession} + j * 45000000000 + (r % 1000) * 1000000`;
  return `${prefix}INSERT INTO calls (policy, trace_id, span_id, parent_span_id, tool_call_id,
      start_ns, end_ns, namespace, session_id, pod, kind, operation, provider, model, tool_name,
      tool_type, api_host, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens,
      reasoning_tokens, error_type, cost_nano, unpriced_reason, policy_generation, tag_set)
    SELECT '${POLICY}', ${p.bytes('s', 32)}, ${p.bytes('c', 16)}, NULL,
      CASE WHEN r % 100 >= 70 AND r % 100 < 95 THEN 'call_' || ${p.hex('c', 12)} END,
      ${start}, ${start} + (200 + r % 9000) * 1000000,
      ${p.namespace}, ${sessionIdSql(d)}, ${p.namespace} || '-runtime-' || (s % 8),
      ${kind},
      CASE WHEN r % 100 < 70 THEN 'chat' WHEN r % 100 < 95 THEN 'execute_tool' ELSE 'GET' END,
      CASE WHEN r % 100 < 70 THEN CASE WHEN r % 4 < 2 THEN 'openai' ELSE 'anthropic' END END,
      CASE WHEN r % 100 < 2 THEN 'in-house-llm' WHEN r % 100 < 70 THEN ${model} END,
      CASE WHEN r % 100 >= 70 AND r % 100 < 95 THEN CASE r % 3 WHEN 0 THEN 'web_search' WHEN 1 THEN 'sql_query' ELSE 'fetch_page' END END,
      CASE WHEN r % 100 >= 70 AND r % 100 < 95 THEN 'function' END,
      CASE WHEN r % 100 >= 95 THEN 'maps.example' END,
      ${input}, ${output}, (${input}) * (r % 5) / 5, CASE WHEN r % 7 = 0 THEN 1024 ELSE 0 END, 0,
      CASE WHEN r % 100 = 7 THEN 'timeout' END,
      CASE WHEN r % 100 < 2 THEN NULL
           WHEN r % 100 < 70 THEN (${input}) * ${inPrice} + (${output}) * ${outPrice}
           WHEN r % 100 < 95 THEN 5000000 ELSE 2000000 END,
      CASE WHEN r % 100 < 2 THEN 'no-rate-for-model' END,
      3, (s % ${NAMESPACES}) * ${AGENTS_PER_NAMESPACE} + (s / 7) % ${AGENTS_PER_NAMESPACE} + 1
    FROM (${series}) AS x`;
}

/** The chunk's calls: a trace-id range of the policy's calls (uses the primary key). */
const CHUNK = `FROM calls WHERE policy = '${POLICY}' AND trace_id >= $1 AND trace_id < $2`;
const INFRA = '(end_ns - start_ns) / 1000';
const COST = `coalesce(cost_nano, 0)`;
const DAY_OF = `start_ns / ${DAY_NS}`;

const ADD_SESSIONS = `INSERT INTO session_totals (policy, namespace, session_id, day, infra_nano,
    tokens_nano, tools_nano, apis_nano, total_nano, calls, unpriced_calls, input_tokens,
    output_tokens, first_ns, last_ns)
  SELECT policy, namespace, session_id, ${DAY_OF}, sum(${INFRA}),
    sum(CASE WHEN kind = 'model' THEN ${COST} ELSE 0 END),
    sum(CASE WHEN kind = 'tool' THEN ${COST} ELSE 0 END),
    sum(CASE WHEN kind = 'api' THEN ${COST} ELSE 0 END),
    sum(${INFRA} + ${COST}), count(*), sum(CASE WHEN cost_nano IS NULL THEN 1 ELSE 0 END),
    sum(input_tokens), sum(output_tokens), min(start_ns), max(end_ns)
  ${CHUNK} GROUP BY policy, namespace, session_id, ${DAY_OF}`;

const ADD_BUDGET = `INSERT INTO budget_sums (policy, budget, period_start_ns, scope_key, spend_nano)
  SELECT policy, '${BUDGET}', ${MONTH_START_NS}, namespace || '/' || session_id, sum(${INFRA} + ${COST})
  ${CHUNK} GROUP BY policy, namespace, session_id
  ON CONFLICT (policy, budget, period_start_ns, scope_key) DO UPDATE SET
    spend_nano = budget_sums.spend_nano + excluded.spend_nano`;

// The bench's month is November (30 days); the last sessions' calls that run past midnight fall
// in December, whose first day is the next month's.
const MONTH_OF = `CASE WHEN ${DAY_OF} >= ${FIRST_DAY + DAYS} THEN ${FIRST_DAY + DAYS} ELSE ${FIRST_DAY} END`;

const ADD_SESSION_MONTHS = `INSERT INTO session_months (policy, month_day, namespace, session_id,
    total_nano)
  SELECT policy, ${MONTH_OF}, namespace, session_id, sum(${INFRA} + ${COST})
  ${CHUNK} GROUP BY policy, ${MONTH_OF}, namespace, session_id
  ON CONFLICT (policy, month_day, namespace, session_id) DO UPDATE SET
    total_nano = session_months.total_nano + excluded.total_nano`;

const ROLLUP_CONFLICT = `ON CONFLICT (policy, day, namespace, tag_set, kind, item) DO UPDATE SET
    cost_nano = daily_rollups.cost_nano + excluded.cost_nano,
    calls = daily_rollups.calls + excluded.calls,
    input_tokens = daily_rollups.input_tokens + excluded.input_tokens,
    output_tokens = daily_rollups.output_tokens + excluded.output_tokens`;

const ADD_CALL_ROLLUPS = `INSERT INTO daily_rollups (policy, day, namespace, tag_set, kind, item,
    cost_nano, calls, input_tokens, output_tokens)
  SELECT policy, ${DAY_OF}, namespace, tag_set, kind, coalesce(model, tool_name, api_host, ''),
    sum(${COST}), count(*), sum(input_tokens), sum(output_tokens)
  ${CHUNK} GROUP BY policy, ${DAY_OF}, namespace, tag_set, kind, coalesce(model, tool_name, api_host, '')
  ${ROLLUP_CONFLICT}`;

const ADD_INFRA_ROLLUPS = `INSERT INTO daily_rollups (policy, day, namespace, tag_set, kind, item,
    cost_nano, calls, input_tokens, output_tokens)
  SELECT policy, ${DAY_OF}, namespace, tag_set, 'infra', '', sum(${INFRA}), 0, 0, 0
  ${CHUNK} GROUP BY policy, ${DAY_OF}, namespace, tag_set
  ${ROLLUP_CONFLICT}`;

/** Milliseconds each statement of the load took, summed over the chunks. */
export type LoadTimes = Record<'calls' | 'sessions' | 'months' | 'budget' | 'rollups', number>;

export const newLoadTimes = (): LoadTimes => ({
  calls: 0,
  sessions: 0,
  months: 0,
  budget: 0,
  rollups: 0,
});

/** Loads sessions [from, to) of a month of `sessions` in one transaction; returns calls added. */
export async function loadChunk(
  engine: SqlEngine,
  sessions: number,
  from: number,
  to: number,
  times: LoadTimes,
): Promise<number> {
  return engine.transaction(async (tx) => {
    const timed = async <T>(step: keyof LoadTimes, work: () => Promise<T>): Promise<T> => {
      const t = performance.now();
      const out = await work();
      times[step] += performance.now() - t;
      return out;
    };
    const calls = await timed('calls', () =>
      tx.run(insertCallsSql(engine.dialect, sessions), [
        BigInt(from * CALLS_PER_SESSION),
        BigInt(to * CALLS_PER_SESSION),
      ]),
    );
    const range = [traceIdOf(from), traceIdOf(to)];
    await timed('sessions', () => tx.run(ADD_SESSIONS, range));
    await timed('months', () => tx.run(ADD_SESSION_MONTHS, range));
    await timed('budget', () => tx.run(ADD_BUDGET, range));
    await timed('rollups', async () => {
      await tx.run(ADD_CALL_ROLLUPS, range);
      await tx.run(ADD_INFRA_ROLLUPS, range);
    });
    return calls;
  });
}

/** The tables whose secondary indexes a bulk load drops and builds again afterwards. */
const LOADED_TABLES = ['calls', 'session_totals', 'session_months', 'budget_sums'];

/**
 * Runs `load` with the loaded tables' secondary indexes dropped, then creates them again from
 * their stored definitions: one sort per index instead of an index insert per row, scattered
 * over every page of an index that outgrows the cache. Returns the seconds the build took.
 */
export async function withoutSecondaryIndexes(
  engine: SqlEngine,
  load: () => Promise<void>,
): Promise<number> {
  const list =
    engine.dialect === 'postgres'
      ? `SELECT indexname AS name, indexdef AS sql FROM pg_indexes
         WHERE schemaname = current_schema() AND tablename IN (${LOADED_TABLES.map((t) => `'${t}'`).join(', ')})
           AND indexdef NOT LIKE 'CREATE UNIQUE INDEX %'`
      : `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL
           AND tbl_name IN (${LOADED_TABLES.map((t) => `'${t}'`).join(', ')})`;
  const indexes = await engine.query<{ name: string; sql: string }>(list);
  for (const i of indexes) await engine.exec(`DROP INDEX ${i.name}`);
  await load();
  const t = performance.now();
  for (const i of indexes) await engine.exec(i.sql);
  return (performance.now() - t) / 1000;
}
