// Store engines for the operator (issue 17): the operator's own store (operator/src/store) on
// PostgreSQL (Debian's server, through `pg`), PGlite (Postgres in WASM, in process) and
// node:sqlite, on the same synthetic month: 1,000,000 sessions
// in 50 namespaces, 20,000,000 calls at SCALE=1. Each engine runs in a child process of its own,
// under the operator image's V8 flags, so its RSS is its own. Prints the machine, then per engine:
// ingest rate (calls and session upserts per second, one AccountingStore.commit per agent pull
// with its cursor move), per-pull transaction time (for an embedded engine, time the event loop is
// held), session lookup p50/p99, top-100 sessions of the month, chargeback by tag, store size on
// disk, RSS, reopen time, retention delete of a day of calls, and whether all sums agree to the
// nano.
// Run: nice -n 10 node test/bench/store-engines.ts
//   SCALE=0.1 (share of the full month) ENGINES=postgres,pglite-lean,pglite,sqlite NODES=100
//   SESSIONS_PER_PULL=100 (sessions starting per pull; a pull holds 4x that many sessions)
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { isEngineChild, machine, runEngineChild } from './engine-child.ts';
import { timeLookups } from './store/lookups.ts';
import { AccountingStore } from '../../operator/src/store/accounting.ts';
import type { LedgerPoint } from '../../operator/src/store/accounting.ts';
import type { SqlEngine } from '../../operator/src/store/engine.ts';
import { int } from '../../operator/src/store/engine.ts';
import { PostgresEngine } from '../../operator/src/store/postgres-engine.ts';
import { SqliteEngine } from '../../operator/src/store/sqlite-engine.ts';
import { roundOf } from './store/deltas.ts';
import { PgliteEngine } from './store/pglite-engine.ts';
import {
  BUDGETS,
  CALLS_PER_SESSION,
  DAY_NS,
  DAYS,
  MONTH_START_NS,
  NAMESPACES,
  POLICY,
  namespaceOf,
  pullAt,
  pullCount,
  sessionIdOf,
} from './store/month.ts';
import type { MonthShape } from './store/month.ts';
import { serverPssBytes, startCluster } from '../support/postgres.ts';

const FULL_SESSIONS = 1_000_000;
const MiB = 1024 * 1024;

interface EngineSpec {
  /** Added to the operator image's node flags. */
  readonly nodeFlags: readonly string[];
  readonly describe: string;
}

const ENGINES: Record<string, EngineSpec> = {
  postgres: { nodeFlags: [], describe: 'PostgreSQL server (Debian), default settings, via pg' },
  pglite: { nodeFlags: [], describe: 'PGlite, default settings (shared_buffers 128MB)' },
  'pglite-lean': {
    nodeFlags: ['--liftoff-only'],
    describe: 'PGlite, shared_buffers=32MB, node --liftoff-only (no optimising WASM tier)',
  },
  sqlite: { nodeFlags: [], describe: 'node:sqlite, WAL, synchronous=FULL, 64 MiB page cache' },
};

const ms = (from: number): number => performance.now() - from;
const round = (x: number, digits = 1): number => Number(x.toFixed(digits));
const quantile = (sorted: readonly number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

function duBytes(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.blocks * 512;
  return readdirSync(path).reduce((sum, name) => sum + duBytes(join(path, name)), st.blocks * 512);
}

function rssMiB(): number {
  return round(process.memoryUsage().rss / MiB);
}

/** One engine, in this (child) process: everything it is measured on. */
async function measure(engine: string): Promise<Record<string, unknown>> {
  const scale = Number(process.env.SCALE ?? 0.1);
  const shape: MonthShape = {
    sessions: Math.round(FULL_SESSIONS * scale),
    sessionsPerBlock: Number(process.env.SESSIONS_PER_PULL ?? 100),
    nodes: Number(process.env.NODES ?? 100),
  };
  const dir = process.env.BENCH_DIR as string;
  const pgSocket = process.env.BENCH_PG_SOCKET;
  const postmaster = Number(process.env.BENCH_PG_PID ?? 0);
  const openEngine = async (): Promise<SqlEngine> => {
    switch (engine) {
      case 'postgres': {
        const socket = encodeURIComponent(pgSocket ?? '');
        const url = `postgres://postgres@localhost:${process.env.BENCH_PG_PORT}/postgres?host=${socket}`;
        return new PostgresEngine({ url, maxConnections: 1 });
      }
      case 'pglite':
      case 'pglite-lean':
        return PgliteEngine.open({
          dataDir: join(dir, 'pglite'),
          settings: engine === 'pglite-lean' ? ['shared_buffers=32MB'] : [],
        });
      case 'sqlite':
        return new SqliteEngine({ path: join(dir, 'store.db'), cacheKiB: 65536 });
      default:
        throw new Error(`unknown engine ${engine}; known: ${Object.keys(ENGINES).join(', ')}`);
    }
  };
  const open = async (): Promise<AccountingStore> => new AccountingStore(await openEngine());
  const storePath = engine === 'postgres' ? (process.env.BENCH_PG_DATA as string) : dir;
  const serverMiB = (): number | undefined =>
    postmaster > 0 ? round(serverPssBytes(postmaster) / MiB) : undefined;

  const rssBaseline = rssMiB();
  let t = performance.now();
  let store = await open();
  const openMs = ms(t);
  const rssOpen = rssMiB();
  await store.migrate();
  const version = await store.engine.version();

  // Ingest: every pull in one transaction with its cursor move.
  const pulls = pullCount(shape);
  const cursors = new Map<string, LedgerPoint>();
  const applyMs: number[] = [];
  const deciles: { calls: number; sessions: number; storeMs: number }[] = Array.from(
    { length: 10 },
    () => ({ calls: 0, sessions: 0, storeMs: 0 }),
  );
  let calls = 0;
  let sessionUpserts = 0;
  let budgetUpserts = 0;
  let rollupUpserts = 0;
  let expectedTotal = 0n;
  let rssPeakSampled = 0;
  const wallStart = performance.now();
  for (let k = 0; k < pulls; k++) {
    const pull = pullAt(k, shape);
    const from = cursors.get(pull.node) ?? null;
    const seq = (from?.seq ?? 0n) + BigInt(pull.entries);
    const to = { seq, hash: createHash('sha256').update(`${pull.node}:${seq}`).digest('hex') };
    cursors.set(pull.node, to);
    const deltas = roundOf(pull, { node: pull.node, from, to }, MONTH_START_NS);
    t = performance.now();
    await store.commit(deltas);
    const took = ms(t);
    applyMs.push(took);
    const n = pull.calls.traceId.length;
    const decile = deciles[Math.min(9, Math.floor((10 * k) / pulls))] as (typeof deciles)[0];
    decile.calls += n;
    decile.sessions += deltas.sessions.length;
    decile.storeMs += took;
    calls += n;
    sessionUpserts += deltas.sessions.length;
    budgetUpserts += deltas.budgets.length;
    rollupUpserts += deltas.rollups.length;
    for (const b of deltas.budgets) if (b.budget === BUDGETS.all) expectedTotal += b.nano;
    if (k % 200 === 0) rssPeakSampled = Math.max(rssPeakSampled, rssMiB());
    if (k % Math.max(1, Math.floor(pulls / 20)) === 0) {
      const s = ms(wallStart) / 1000;
      process.stderr.write(
        `[${engine}] pull ${k}/${pulls} calls ${calls} ${round(s)} s ${round(calls / s, 0)} calls/s rss ${rssMiB()} MiB\n`,
      );
    }
  }
  const wallS = ms(wallStart) / 1000;
  const storeS = applyMs.reduce((a, b) => a + b, 0) / 1000;
  const sortedApply = [...applyMs].sort((a, b) => a - b);
  const rssAfterIngest = rssMiB();
  const serverAfterIngest = serverMiB();

  // Lookups by (namespace, id).
  const lookups = await timeLookups(
    store,
    POLICY,
    shape.sessions,
    Number(process.env.LOOKUPS ?? 2000),
    (s) => ({ namespace: namespaceOf(s), id: sessionIdOf(s) }),
  );

  const firstDay = Number(MONTH_START_NS / DAY_NS);
  const timed = async <T>(work: () => Promise<T>): Promise<{ ms: number[]; result: T }> => {
    const times: number[] = [];
    let result: T | undefined;
    for (let i = 0; i < 3; i++) {
      t = performance.now();
      result = await work();
      times.push(round(ms(t)));
    }
    return { ms: times, result: result as T };
  };
  const days = { fromDay: firstDay, toDay: firstDay + DAYS };
  const summary = (budget: string, n: number) =>
    store.budgetSummary(POLICY, budget, MONTH_START_NS, 0n, n);
  const topBudget = await timed(async () => (await summary(BUDGETS.session, 100)).top);
  const topDays = await timed(() => store.topSessions(POLICY, days, 100));
  if (topBudget.result[0]?.nano !== topDays.result[0]?.totalNano) {
    throw new Error(
      `top session differs: budget ${topBudget.result[0]?.nano}, days ${topDays.result[0]?.totalNano}`,
    );
  }
  const keyCount = await timed(async () => (await summary(BUDGETS.session, 0)).count);
  const byTeam = await timed(() => store.chargeback(POLICY, days, { tag: 'team' }));
  const byAgent = await timed(() => store.chargeback(POLICY, days, { tag: 'gen_ai.agent.name' }));
  const byNamespace = await store.chargeback(POLICY, days, { namespace: true });
  const [sessionSum] = await store.engine.query<{ total: unknown }>(
    'SELECT sum(total_nano) AS total FROM session_totals WHERE policy = $1',
    [POLICY],
  );
  const totals = {
    budget: (await summary(BUDGETS.all, 0)).totalNano,
    sessions: int(sessionSum?.total),
    rollups: byNamespace.reduce((sum, r) => sum + r.costNano, 0n),
  };
  const exact =
    totals.budget === expectedTotal &&
    totals.sessions === totals.budget &&
    totals.rollups === totals.budget;
  if (!exact) {
    const said = Object.entries(totals).map(([k, v]) => `${k} ${v}`);
    throw new Error(`sums disagree: expected ${expectedTotal}, store ${said.join(', ')}`);
  }
  const rssAfterQueries = rssMiB();
  const serverAfterQueries = serverMiB();
  const sizeBeforeRetention = duBytes(storePath);

  // Retention: the daily job drops the calls that have become 30 days old (the month's first day).
  t = performance.now();
  const deleted = (
    await store.retain({
      callsBeforeNs: MONTH_START_NS + DAY_NS,
      sessionsBeforeDay: 0,
      rollupsBeforeDay: 0,
      budgetSumsBeforeNs: 0n,
    })
  ).calls;
  const retentionMs = ms(t);

  // Restart: reopen the store and answer one lookup (embedded engines replay nothing else).
  await store.close();
  t = performance.now();
  store = await open();
  await store.session(POLICY, namespaceOf(0), sessionIdOf(0));
  const reopenMs = ms(t);
  await store.close();

  return {
    engine,
    describe: ENGINES[engine]?.describe,
    version,
    nodeFlags: process.execArgv.join(' '),
    scale,
    sessions: shape.sessions,
    calls,
    pulls,
    callsPerPull: round(calls / pulls, 0),
    ingest: {
      wallSeconds: round(wallS),
      storeSeconds: round(storeS),
      callsPerSecond: round(calls / storeS, 0),
      sessionUpsertsPerSecond: round(sessionUpserts / storeS, 0),
      sessionUpserts,
      budgetUpserts,
      rollupUpserts,
      callsPerSecondByDecile: deciles.map((d) => round(d.calls / (d.storeMs / 1000), 0)),
      pullTransactionMs: {
        p50: round(quantile(sortedApply, 0.5)),
        p99: round(quantile(sortedApply, 0.99)),
        max: round(sortedApply.at(-1) ?? NaN),
      },
    },
    lookupMs: lookups,
    top100: {
      fromBudgetSumsMs: topBudget.ms,
      fromDailySessionTotalsMs: topDays.ms,
      topSessionNano: topBudget.result[0]?.nano.toString(),
    },
    scopeKeyCount: { ms: keyCount.ms, keys: keyCount.result },
    chargeback: {
      byTeamFromRollupsMs: byTeam.ms,
      byAgentNameFromRollupsMs: byAgent.ms,
      teams: byTeam.result.length,
    },
    sumsAgree: { exact, totalNano: totals.budget.toString() },
    retention: {
      deletedCalls: deleted,
      ms: round(retentionMs),
      callsPerSecond: round(deleted / (retentionMs / 1000), 0),
    },
    reopenMs: round(reopenMs),
    openMs: round(openMs),
    storeMiB: round(sizeBeforeRetention / MiB),
    storeBytesPerCall: round(sizeBeforeRetention / calls, 0),
    rssMiB: {
      baselineBeforeOpen: rssBaseline,
      afterOpen: rssOpen,
      afterIngest: rssAfterIngest,
      sampledPeakDuringIngest: rssPeakSampled,
      afterQueries: rssAfterQueries,
      peak: round(process.resourceUsage().maxRSS / 1024),
      external: round(process.memoryUsage().external / MiB),
    },
    serverPssMiB:
      serverAfterIngest === undefined
        ? undefined
        : { afterIngest: serverAfterIngest, afterQueries: serverAfterQueries },
  };
}

async function runChild(engine: string, env: Record<string, string>): Promise<unknown> {
  const spec = ENGINES[engine];
  if (spec === undefined)
    throw new Error(`unknown engine ${engine}; known: ${Object.keys(ENGINES).join(', ')}`);
  return runEngineChild(engine, spec.nodeFlags, env);
}

async function main(): Promise<void> {
  const engines = (process.env.ENGINES ?? 'postgres,pglite-lean,pglite,sqlite').split(',');
  const scale = Number(process.env.SCALE ?? 0.1);
  console.log(
    JSON.stringify(
      {
        machine: machine(),
        scale,
        fullScale: {
          sessions: FULL_SESSIONS,
          calls: FULL_SESSIONS * CALLS_PER_SESSION,
          namespaces: NAMESPACES,
        },
      },
      null,
      2,
    ),
  );
  const results: unknown[] = [];
  for (const engine of engines) {
    const dir = mkdtempSync(join(os.tmpdir(), `agentmeter-store-bench-${engine}-`));
    try {
      if (engine === 'postgres') {
        const cluster = await startCluster();
        try {
          const r = await runChild(engine, {
            BENCH_DIR: dir,
            BENCH_PG_SOCKET: cluster.socketDir,
            BENCH_PG_PORT: String(cluster.port),
            BENCH_PG_PID: String(cluster.postmasterPid),
            BENCH_PG_DATA: cluster.dataDir,
          });
          results.push(r);
        } finally {
          await cluster.stop();
        }
      } else {
        results.push(await runChild(engine, { BENCH_DIR: dir }));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    console.log(JSON.stringify(results.at(-1), null, 2));
  }
  console.log(JSON.stringify({ loadAverageAtEnd: os.loadavg().map((x) => round(x, 2)) }));
}

if (isEngineChild) {
  const result = await measure(process.env.BENCH_ENGINE as string);
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  await main();
}
