// Issue 17's scale: one month, 1,000,000 sessions in 50 namespaces under one Session-scope
// budget, 20,000,000 calls, on the operator's real store (operator/src/store) on node:sqlite and
// on Debian's PostgreSQL server. Per engine, two child processes under the operator image's V8
// flags: the first generates the month (the bench's own memory, printed apart), the second is the
// operator side on it, so the RSS printed as the operator's is its own, with the peak of each
// phase (PostgreSQL's server is printed apart). Per engine it prints:
// - bulk load: the month generated inside the engine chunk by chunk (calls, then session totals,
//   month totals, budget sums and rollups from them, one transaction per chunk) with the
//   secondary indexes built afterwards, calls per second and seconds per statement;
// - ingest through the operator's own round on top of the full month (session-scale/wired-round.ts:
//   sealed calls entries from NODES agents, preparePolicy's PolicyFold, commitStatus's store
//   transaction and status build; the status patch is captured, not sent): calls per second, a
//   round's p50/p99, the fold state the store carries and the status patch's size;
// - status: AccountingStore.budgetSummary → storedBudgetStatus/Conditions, its JSON size and time;
// - session lookup p50/p99 (AccountingStore.session), top 100 sessions of the month
//   (topSessions, with each engine's plan, and from the budget's sums), chargeback by tag and by
//   namespace;
// - that budget sums, session and month totals and rollups agree to the nano-unit; store size;
//   the operator's RSS.
// Run: nice -n 19 node test/bench/session-scale.ts
//   SCALE=1 (share of the month) ENGINES=sqlite,postgres ROUNDS=50 LOOKUPS=2000
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { formatMoney, parseMoney } from '../../crds/src/index.ts';
import {
  storedBudgetConditions,
  storedBudgetStatus,
  STATUS_TOP_SCOPES,
} from '../../operator/src/status/from-store.ts';
import { TOP_SESSIONS_OF_MONTH } from '../../operator/src/store/accounting.ts';
import type { AccountingStore, DayRange } from '../../operator/src/store/accounting.ts';
import { int } from '../../operator/src/store/engine.ts';
import { openStore } from '../../operator/src/store/open.ts';
import { isEngineChild, machine, phaseRss, runEngineChild } from './engine-child.ts';
import { timeLookups } from './store/lookups.ts';
import { serverPssBytes, startCluster } from '../support/postgres.ts';
import {
  BUDGET,
  CALLS_PER_SESSION,
  DAYS,
  FIRST_DAY,
  MONTH_START_NS,
  NAMESPACES,
  POLICY,
  createTagSets,
  loadChunk,
  namespaceOf,
  newLoadTimes,
  sessionIdOf,
  withoutSecondaryIndexes,
} from './session-scale/month-sql.ts';
import { monthPolicy, NODES, seedMonthState, WiredRound } from './session-scale/wired-round.ts';

const FULL_SESSIONS = 1_000_000;
const MiB = 1024 * 1024;
const BUDGET_AMOUNT = '0.5';
const SESSIONS_PER_ROUND = 100;
const PG_SETTINGS = ['max_wal_size=8GB', 'checkpoint_timeout=30min', 'maintenance_work_mem=256MB'];

const ms = (from: number): number => performance.now() - from;
const round1 = (x: number, digits = 1): number => Number(x.toFixed(digits));
const quantile = (sorted: readonly number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
const log = (msg: string): void => {
  process.stderr.write(`[${process.env.BENCH_ENGINE}] ${msg}\n`);
};

async function timed3<T>(work: () => Promise<T>): Promise<{ ms: number[]; result: T }> {
  const times: number[] = [];
  let result: T | undefined;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    result = await work();
    times.push(round1(ms(t)));
  }
  return { ms: times, result: result as T };
}

/** Every table's sum for the policy, and the rollups' sum within the month's days. */
async function totals(store: AccountingStore): Promise<{
  budget: bigint;
  sessions: bigint;
  months: bigint;
  rollups: bigint;
  rollupsInMonth: bigint;
}> {
  const [row] = await store.engine.query(
    `SELECT (SELECT sum(spend_nano) FROM budget_sums WHERE policy = $1) AS budget,
            (SELECT sum(total_nano) FROM session_totals WHERE policy = $1) AS sessions,
            (SELECT sum(total_nano) FROM session_months WHERE policy = $1) AS months,
            (SELECT sum(cost_nano) FROM daily_rollups WHERE policy = $1) AS rollups,
            (SELECT sum(cost_nano) FROM daily_rollups WHERE policy = $1 AND day >= $2 AND day < $3)
              AS month`,
    [POLICY, FIRST_DAY, FIRST_DAY + DAYS],
  );
  return {
    budget: int(row?.budget),
    sessions: int(row?.sessions),
    months: int(row?.months),
    rollups: int(row?.rollups),
    rollupsInMonth: int(row?.month),
  };
}

const openBenchStore = (engine: string): Promise<AccountingStore> =>
  openStore(
    engine === 'postgres'
      ? { engine: 'postgres', url: process.env.BENCH_PG_URL as string }
      : { engine: 'sqlite', path: join(process.env.BENCH_DIR as string, 'store.db') },
  );

/**
 * The bench's own part, in a child of its own: the month generated in the engine chunk by chunk
 * (secondary indexes built afterwards), ANALYZE, and the fold state the month's rounds leave.
 * Its RSS is the generator's, not the operator's, and is printed apart.
 */
async function load(engine: string): Promise<Record<string, unknown>> {
  const sessions = Math.round(FULL_SESSIONS * Number(process.env.SCALE ?? 1));
  phaseRss.start();
  const store = await openBenchStore(engine);
  // The generator's page cache (the operator's store keeps the engine's default).
  if (engine === 'sqlite') await store.engine.exec('PRAGMA cache_size = -262144');
  await createTagSets(store.engine);
  const chunks = Math.max(1, Math.round(sessions / 10_000));
  const times = newLoadTimes();
  let calls = 0;
  const loadStart = performance.now();
  const indexSeconds = await withoutSecondaryIndexes(store.engine, async () => {
    for (let k = 0; k < chunks; k++) {
      const from = Math.floor((k * sessions) / chunks);
      const to = Math.floor(((k + 1) * sessions) / chunks);
      calls += await loadChunk(store.engine, sessions, from, to, times);
      if (k % Math.max(1, Math.floor(chunks / 20)) === 0) {
        const s = ms(loadStart) / 1000;
        log(`chunk ${k}/${chunks} calls ${calls} ${round1(s)} s ${Math.round(calls / s)} calls/s`);
      }
    }
  });
  const loadS = ms(loadStart) / 1000;
  let t = performance.now();
  await store.engine.exec('ANALYZE');
  const analyzeS = ms(t) / 1000;
  log(`loaded ${calls} calls in ${round1(loadS)} s (indexes ${round1(indexSeconds)} s)`);
  t = performance.now();
  const nowMs = Number(MONTH_START_NS / 1_000_000n) + (DAYS - 0.5) * 86_400_000;
  const stateBytes = await seedMonthState(store, monthPolicy(BUDGET_AMOUNT), nowMs);
  const seedS = ms(t) / 1000;
  log(`seeded the month's fold state: ${stateBytes} bytes in ${round1(seedS)} s`);
  await store.close();
  return {
    calls,
    bulkLoad: {
      seconds: round1(loadS),
      callsPerSecond: Math.round(calls / loadS),
      chunks,
      statementSeconds: Object.fromEntries(
        Object.entries(times).map(([k, v]) => [k, round1(v / 1000)]),
      ),
      indexBuildSeconds: round1(indexSeconds),
      analyzeSeconds: round1(analyzeS),
    },
    seed: { stateBytes, seconds: round1(seedS) },
    generatorRssPeakMiB: phaseRss.peakMiB(),
  };
}

/** The plan each engine takes for the month's top sessions (EXPLAIN). */
async function topPlan(store: AccountingStore, month: DayRange): Promise<string[]> {
  const params = [POLICY, month.fromDay, month.toDay, '', 100];
  if (store.engine.dialect === 'sqlite') {
    const rows = await store.engine.query<{ detail: string }>(
      `EXPLAIN QUERY PLAN ${TOP_SESSIONS_OF_MONTH}`,
      params,
    );
    return rows.map((r) => r.detail);
  }
  const rows = await store.engine.query<{ 'QUERY PLAN': string }>(
    `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) ${TOP_SESSIONS_OF_MONTH}`,
    params,
  );
  return rows.map((r) => r['QUERY PLAN']);
}

/**
 * What the operator does on the month, in a child of its own so its RSS is the operator side's:
 * rounds through preparePolicy and commitStatus, then the questions status, the CLI and reports
 * ask. The peak RSS of each phase is taken apart.
 */
async function operate(engine: string): Promise<Record<string, unknown>> {
  const calls = Number(process.env.BENCH_CALLS ?? 0);
  const rss: Record<string, number> = {};
  const phase = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    phaseRss.start();
    const out = await work();
    rss[name] = phaseRss.peakMiB();
    return out;
  };
  const store = await phase('open', () => openBenchStore(engine));
  const version = await store.engine.version();

  // Ingest through the operator's own round on top of the full month: real sealed calls entries
  // on NODES nodes, folded by preparePolicy's PolicyFold and committed by commitStatus (store
  // transaction, then the status from the store).
  const policy = monthPolicy(BUDGET_AMOUNT);
  const nowMs = Number(MONTH_START_NS / 1_000_000n) + (DAYS - 0.5) * 86_400_000;
  const sessions = Math.round(FULL_SESSIONS * Number(process.env.SCALE ?? 1));
  const wired = new WiredRound(store, policy, nowMs);
  const rounds = Number(process.env.ROUNDS ?? 50);
  const roundMs: number[] = [];
  const roundRss: number[] = [];
  let roundCalls = 0;
  for (let k = 0; k < rounds; k++) {
    const t = performance.now();
    const r = await phase('round', () =>
      wired.run(sessions + k * SESSIONS_PER_ROUND, SESSIONS_PER_ROUND),
    );
    roundMs.push(ms(t));
    roundRss.push(rss.round ?? NaN);
    roundCalls += r.calls;
    if (k % 10 === 0) log(`round ${k}: ${round1(roundMs.at(-1) ?? NaN)} ms rss ${rss.round} MiB`);
  }
  delete rss.round;
  rss.roundFirst = roundRss[0] ?? NaN;
  rss.roundsMax = Math.max(...roundRss);
  const roundS = roundMs.reduce((a, b) => a + b, 0) / 1000;
  roundMs.sort((a, b) => a - b);
  const [stateRow] = await phase('stateRead', () =>
    store.engine.query<{ n: unknown }>(
      'SELECT length(state) AS n FROM policy_state WHERE policy = $1',
      [POLICY],
    ),
  );

  // Status of the Session budget, as the reconcile would compute it.
  const amountNano = parseMoney(BUDGET_AMOUNT);
  const budget = {
    name: BUDGET,
    amount: BUDGET_AMOUNT,
    period: 'Monthly' as const,
    scope: 'Session' as const,
    thresholds: [50, 80, 100],
  };
  const start = Number(MONTH_START_NS / 1_000_000n);
  const end = start + DAYS * 86_400_000;
  const status = await phase('status', () =>
    timed3(async () => {
      const summary = await store.budgetSummary(
        POLICY,
        BUDGET,
        MONTH_START_NS,
        amountNano,
        STATUS_TOP_SCOPES,
      );
      const stored = [{ budget, start, end, summary }];
      const budgets = stored.map((b) => storedBudgetStatus(b, end - 1));
      return { budgets, conditions: storedBudgetConditions(stored, budgets) };
    }),
  );
  const statusBytes = Buffer.byteLength(JSON.stringify(status.result));

  // Lookups by (namespace, id).
  const lookups = await phase('lookups', () =>
    timeLookups(store, POLICY, sessions, Number(process.env.LOOKUPS ?? 2000), (s) => ({
      namespace: namespaceOf(s),
      id: sessionIdOf(s),
    })),
  );

  const month = { fromDay: FIRST_DAY, toDay: FIRST_DAY + DAYS };
  const top = await phase('top100', () => timed3(() => store.topSessions(POLICY, month, 100)));
  const topFromBudget = await phase('top100FromBudget', () =>
    timed3(() => store.budgetSummary(POLICY, BUDGET, MONTH_START_NS, amountNano, 100)),
  );
  if (top.result[0]?.totalNano !== topFromBudget.result.top[0]?.nano) {
    throw new Error(
      `top session differs: ${top.result[0]?.totalNano} vs ${topFromBudget.result.top[0]?.nano}`,
    );
  }
  const plan = await phase('plan', () => topPlan(store, month));
  const { byTeam, byCostCenter, byNamespace } = await phase('chargeback', async () => ({
    byTeam: await timed3(() => store.chargeback(POLICY, month, { tag: 'team' })),
    byCostCenter: await timed3(() => store.chargeback(POLICY, month, { tag: 'cost-center' })),
    byNamespace: await timed3(() => store.chargeback(POLICY, month, { namespace: true })),
  }));
  // The bench's own check, not an operator question: every table's sum.
  const sums = await phase('sums', () => totals(store));
  // Calls of the month's last sessions that run past midnight count in the month's budget (its
  // period started them) but fall on the next day in the day-based questions.
  const byTeamTotal = byTeam.result.reduce((a, r) => a + r.costNano, 0n);
  const byNamespaceTotal = byNamespace.result.reduce((a, r) => a + r.costNano, 0n);
  if (
    sums.budget !== sums.sessions ||
    sums.budget !== sums.rollups ||
    sums.budget !== sums.months ||
    byTeamTotal !== sums.rollupsInMonth ||
    byNamespaceTotal !== sums.rollupsInMonth
  ) {
    throw new Error(
      `sums disagree: ${JSON.stringify({ ...sums, byTeamTotal, byNamespaceTotal }, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`,
    );
  }
  const sizeBytes = await phase('size', () => store.sizeBytes());
  const postmaster = Number(process.env.BENCH_PG_PID ?? 0);
  const server = postmaster > 0 ? round1(serverPssBytes(postmaster) / MiB) : undefined;
  await store.close();

  return {
    engine,
    version,
    nodeFlags: process.execArgv.join(' '),
    sessions,
    namespaces: NAMESPACES,
    calls,
    wiredRound: {
      rounds,
      nodes: NODES,
      callsPerRound: SESSIONS_PER_ROUND * CALLS_PER_SESSION,
      stateBytesAfter: Number(int(stateRow?.n)),
      statusPatchBytes: wired.lastStatusBytes,
      statusPatchFieldBytes: wired.lastStatusFields,
      callsPerSecond: Math.round(roundCalls / roundS),
      roundMs: {
        p50: round1(quantile(roundMs, 0.5)),
        p99: round1(quantile(roundMs, 0.99)),
        max: round1(roundMs.at(-1) ?? NaN),
      },
    },
    status: {
      fromBudgetSummaryBytes: statusBytes,
      ms: status.ms,
      scopeKeys: status.result.budgets[0]?.scopeKeys,
      scopeKeysExceeded: status.result.budgets[0]?.scopeKeysExceeded,
      nearest: status.result.budgets[0]?.topScopes?.[0],
      conditions: status.result.conditions.map((c) => `${c.type}=${c.status}: ${c.message}`),
    },
    lookupMs: lookups,
    top100: {
      fromSessionTotalsMs: top.ms,
      fromBudgetSumsMs: topFromBudget.ms,
      topSession: formatMoney(top.result[0]?.totalNano ?? 0n),
      plan,
    },
    chargeback: {
      byTagTeamMs: byTeam.ms,
      byTagCostCenterMs: byCostCenter.ms,
      byNamespaceMs: byNamespace.ms,
      teams: byTeam.result.map((r) => `${r.key}=${formatMoney(r.costNano)}`),
    },
    sumsAgree: {
      total: formatMoney(sums.budget),
      month: formatMoney(sums.rollupsInMonth),
      exact: true,
    },
    storeMiB: round1(Number(sizeBytes) / MiB),
    // Every step after the store opened is in a phase: the highest is the process's peak.
    operatorRssMiB: { peak: Math.max(...Object.values(rss)), peakByPhase: rss },
    serverPssMiB: server,
  };
}

/** Both children of one engine: the month's load, then the operator on it. */
async function runEngine(engine: string, env: Record<string, string>): Promise<void> {
  const loaded = (await runEngineChild(engine, [], { ...env, BENCH_PHASE: 'load' })) as {
    calls: number;
  };
  console.log(JSON.stringify({ engine, load: loaded }, null, 2));
  const operated = await runEngineChild(engine, [], {
    ...env,
    BENCH_PHASE: 'operate',
    BENCH_CALLS: String(loaded.calls),
  });
  console.log(JSON.stringify(operated, null, 2));
}

async function main(): Promise<void> {
  const engines = (process.env.ENGINES ?? 'sqlite,postgres').split(',');
  console.log(
    JSON.stringify({
      machine: machine(),
      postgresSettings: PG_SETTINGS,
      scale: Number(process.env.SCALE ?? 1),
    }),
  );
  for (const engine of engines) {
    const dir = mkdtempSync(join(os.tmpdir(), `agentmeter-session-scale-${engine}-`));
    try {
      if (engine === 'postgres') {
        // Fewer checkpoints and more sort memory for the bulk load; otherwise Debian's default.
        const cluster = await startCluster(PG_SETTINGS);
        try {
          await runEngine(engine, {
            BENCH_DIR: dir,
            BENCH_PG_URL: cluster.url,
            BENCH_PG_PID: String(cluster.postmasterPid),
          });
        } finally {
          await cluster.stop();
        }
      } else {
        await runEngine(engine, { BENCH_DIR: dir });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(JSON.stringify({ loadAverageAtEnd: os.loadavg().map((x) => round1(x, 2)) }));
}

if (isEngineChild) {
  const engine = process.env.BENCH_ENGINE as string;
  const figures = process.env.BENCH_PHASE === 'load' ? await load(engine) : await operate(engine);
  process.stdout.write(`${JSON.stringify(figures)}\n`);
} else {
  await main();
}
