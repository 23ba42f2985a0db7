// Issue 17's scale: one month, 1,000,000 sessions in 50 namespaces under one Session-scope
// budget, 20,000,000 calls, on the operator's real store (operator/src/store) on node:sqlite and
// on Debian's PostgreSQL server. Each engine runs in a child process under the operator image's
// V8 flags, so the RSS printed is the operator side's own (PostgreSQL's server is printed apart).
// Per engine it prints:
// - bulk load: the month generated inside the engine chunk by chunk (calls, then session totals,
//   budget sums and rollups from them, one transaction per chunk), calls per second;
// - ingest through the operator's own round on top of the full month (session-scale/wired-round.ts:
//   sealed calls entries from NODES agents, preparePolicy's PolicyFold, commitStatus's store
//   transaction and status build; the status patch is captured, not sent): calls per second, a
//   round's p50/p99, the fold state the store carries and the status patch's size;
// - status: AccountingStore.budgetSummary → storedBudgetStatus/Conditions, its JSON size and time;
// - session lookup p50/p99 (AccountingStore.session), top 100 sessions of the month
//   (topSessions, and from the budget's sums), chargeback by tag and by namespace;
// - that budget sums, session totals and rollups agree to the nano-unit; store size; RSS.
// Run: nice -n 10 node test/bench/session-scale.ts
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
import type { AccountingStore } from '../../operator/src/store/accounting.ts';
import { int } from '../../operator/src/store/engine.ts';
import { openStore } from '../../operator/src/store/open.ts';
import { isEngineChild, machine, runEngineChild } from './engine-child.ts';
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
  sessionIdOf,
} from './session-scale/month-sql.ts';
import { monthPolicy, NODES, seedMonthState, WiredRound } from './session-scale/wired-round.ts';

const FULL_SESSIONS = 1_000_000;
const MiB = 1024 * 1024;
const BUDGET_AMOUNT = '0.5';
const SESSIONS_PER_ROUND = 100;
const PG_SETTINGS = ['max_wal_size=8GB', 'checkpoint_timeout=30min'];

const ms = (from: number): number => performance.now() - from;
const round1 = (x: number, digits = 1): number => Number(x.toFixed(digits));
const quantile = (sorted: readonly number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
const rssMiB = (): number => round1(process.memoryUsage().rss / MiB);
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
async function totals(
  store: AccountingStore,
): Promise<{ budget: bigint; sessions: bigint; rollups: bigint; rollupsInMonth: bigint }> {
  const [row] = await store.engine.query(
    `SELECT (SELECT sum(spend_nano) FROM budget_sums WHERE policy = $1) AS budget,
            (SELECT sum(total_nano) FROM session_totals WHERE policy = $1) AS sessions,
            (SELECT sum(cost_nano) FROM daily_rollups WHERE policy = $1) AS rollups,
            (SELECT sum(cost_nano) FROM daily_rollups WHERE policy = $1 AND day >= $2 AND day < $3)
              AS month`,
    [POLICY, FIRST_DAY, FIRST_DAY + DAYS],
  );
  return {
    budget: int(row?.budget),
    sessions: int(row?.sessions),
    rollups: int(row?.rollups),
    rollupsInMonth: int(row?.month),
  };
}

async function measure(engine: string): Promise<Record<string, unknown>> {
  const scale = Number(process.env.SCALE ?? 1);
  const sessions = Math.round(FULL_SESSIONS * scale);
  const dir = process.env.BENCH_DIR as string;
  const postmaster = Number(process.env.BENCH_PG_PID ?? 0);
  const serverMiB = (): number | undefined =>
    postmaster > 0 ? round1(serverPssBytes(postmaster) / MiB) : undefined;
  const store = await openStore(
    engine === 'postgres'
      ? { engine: 'postgres', url: process.env.BENCH_PG_URL as string }
      : { engine: 'sqlite', path: join(dir, 'store.db') },
  );
  const version = await store.engine.version();
  // BENCH_LOADED=1: the store already holds the month (a run stopped after its load).
  const loaded = process.env.BENCH_LOADED === '1';
  if (!loaded) await createTagSets(store.engine);

  // Bulk load, chunk by chunk.
  const chunks = loaded ? 0 : Math.max(1, Math.round(sessions / 10_000));
  let calls = 0;
  let rssPeakSampled = rssMiB();
  const loadStart = performance.now();
  for (let k = 0; k < chunks; k++) {
    const from = Math.floor((k * sessions) / chunks);
    const to = Math.floor(((k + 1) * sessions) / chunks);
    calls += await loadChunk(store.engine, sessions, from, to);
    rssPeakSampled = Math.max(rssPeakSampled, rssMiB());
    if (k % Math.max(1, Math.floor(chunks / 20)) === 0) {
      const s = ms(loadStart) / 1000;
      log(
        `chunk ${k}/${chunks} calls ${calls} ${round1(s)} s ${Math.round(calls / s)} calls/s rss ${rssMiB()} MiB`,
      );
    }
  }
  const loadS = ms(loadStart) / 1000;
  let t = performance.now();
  if (!loaded) await store.engine.exec('ANALYZE');
  const analyzeS = ms(t) / 1000;
  if (loaded) {
    const [row] = await store.engine.query('SELECT count(*) AS n FROM calls WHERE policy = $1', [
      POLICY,
    ]);
    calls = Number(int(row?.n));
  }
  log(`loaded ${calls} calls in ${round1(loadS)} s, analyze ${round1(analyzeS)} s`);

  // Ingest through the operator's own round on top of the full month: real sealed calls entries
  // on NODES nodes, folded by preparePolicy's PolicyFold and committed by commitStatus (store
  // transaction, then the status from the store). The state the month's rounds leave in the
  // store (the report accumulator's session sets) is seeded first, as the operator carries it.
  const policy = monthPolicy(BUDGET_AMOUNT);
  const nowMs = Number(MONTH_START_NS / 1_000_000n) + (DAYS - 0.5) * 86_400_000;
  t = performance.now();
  const stateBytes = loaded ? 0 : await seedMonthState(store, policy, sessions, nowMs);
  const seedS = ms(t) / 1000;
  log(`seeded the month's fold state: ${stateBytes} bytes in ${round1(seedS)} s`);
  const wired = new WiredRound(store, policy, nowMs);
  const rounds = Number(process.env.ROUNDS ?? 50);
  const roundMs: number[] = [];
  let roundCalls = 0;
  let rssPeakRounds = rssMiB();
  for (let k = 0; k < rounds; k++) {
    t = performance.now();
    const r = await wired.run(sessions + k * SESSIONS_PER_ROUND, SESSIONS_PER_ROUND);
    roundMs.push(ms(t));
    roundCalls += r.calls;
    rssPeakRounds = Math.max(rssPeakRounds, rssMiB());
    if (k % 10 === 0) log(`round ${k}: ${round1(roundMs.at(-1) ?? NaN)} ms rss ${rssMiB()} MiB`);
  }
  const roundS = roundMs.reduce((a, b) => a + b, 0) / 1000;
  roundMs.sort((a, b) => a - b);
  const [stateRow] = await store.engine.query<{ n: unknown }>(
    'SELECT length(state) AS n FROM policy_state WHERE policy = $1',
    [POLICY],
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
  const status = await timed3(async () => {
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
  });
  const statusBytes = Buffer.byteLength(JSON.stringify(status.result));

  // Lookups by (namespace, id).
  const lookups = await timeLookups(
    store,
    POLICY,
    sessions,
    Number(process.env.LOOKUPS ?? 2000),
    (s) => ({ namespace: namespaceOf(s), id: sessionIdOf(s) }),
  );

  const month = { fromDay: FIRST_DAY, toDay: FIRST_DAY + DAYS };
  const top = await timed3(() => store.topSessions(POLICY, month, 100));
  const topFromBudget = await timed3(() =>
    store.budgetSummary(POLICY, BUDGET, MONTH_START_NS, amountNano, 100),
  );
  if (top.result[0]?.totalNano !== topFromBudget.result.top[0]?.nano) {
    throw new Error(
      `top session differs: ${top.result[0]?.totalNano} vs ${topFromBudget.result.top[0]?.nano}`,
    );
  }
  const byTeam = await timed3(() => store.chargeback(POLICY, month, { tag: 'team' }));
  const byCostCenter = await timed3(() => store.chargeback(POLICY, month, { tag: 'cost-center' }));
  const byNamespace = await timed3(() => store.chargeback(POLICY, month, { namespace: true }));
  const sums = await totals(store);
  // Calls of the month's last sessions that run past midnight count in the month's budget (its
  // period started them) but fall on the next day in the day-based questions.
  const byTeamTotal = byTeam.result.reduce((a, r) => a + r.costNano, 0n);
  const byNamespaceTotal = byNamespace.result.reduce((a, r) => a + r.costNano, 0n);
  if (
    sums.budget !== sums.sessions ||
    sums.budget !== sums.rollups ||
    byTeamTotal !== sums.rollupsInMonth ||
    byNamespaceTotal !== sums.rollupsInMonth
  ) {
    throw new Error(
      `sums disagree: ${JSON.stringify({ ...sums, byTeamTotal, byNamespaceTotal }, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`,
    );
  }
  const sizeBytes = await store.sizeBytes();
  const rssAfter = rssMiB();
  const server = serverMiB();
  await store.close();

  return {
    engine,
    version,
    nodeFlags: process.execArgv.join(' '),
    scale,
    sessions,
    namespaces: NAMESPACES,
    calls,
    bulkLoad: {
      seconds: round1(loadS),
      callsPerSecond: Math.round(calls / loadS),
      chunks,
      analyzeSeconds: round1(analyzeS),
    },
    wiredRound: {
      rounds,
      nodes: NODES,
      callsPerRound: SESSIONS_PER_ROUND * CALLS_PER_SESSION,
      seededStateBytes: stateBytes,
      seedSeconds: round1(seedS),
      stateBytesAfter: Number(int(stateRow?.n)),
      statusPatchBytes: wired.lastStatusBytes,
      statusPatchFieldBytes: wired.lastStatusFields,
      rssPeakMiB: rssPeakRounds,
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
    rssMiB: {
      peak: round1(process.resourceUsage().maxRSS / 1024),
      sampledPeakDuringLoad: rssPeakSampled,
      atEnd: rssAfter,
    },
    serverPssMiB: server,
  };
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
      const existing = process.env.BENCH_PG_URL;
      if (engine === 'postgres' && existing !== undefined) {
        // A server left by an earlier run (with BENCH_LOADED=1 and BENCH_PG_PID).
        console.log(JSON.stringify(await runEngineChild(engine, [], { BENCH_DIR: dir }), null, 2));
      } else if (engine === 'postgres') {
        // Fewer checkpoints during the bulk load; everything else is Debian's default.
        const cluster = await startCluster(PG_SETTINGS);
        try {
          console.log(
            JSON.stringify(
              await runEngineChild(engine, [], {
                BENCH_DIR: dir,
                BENCH_PG_URL: cluster.url,
                BENCH_PG_PID: String(cluster.postmasterPid),
              }),
              null,
              2,
            ),
          );
        } finally {
          await cluster.stop();
        }
      } else {
        console.log(JSON.stringify(await runEngineChild(engine, [], { BENCH_DIR: dir }), null, 2));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(JSON.stringify({ loadAverageAtEnd: os.loadavg().map((x) => round1(x, 2)) }));
}

if (isEngineChild) {
  process.stdout.write(`${JSON.stringify(await measure(process.env.BENCH_ENGINE as string))}\n`);
} else {
  await main();
}
