// The operator's own collection round on generated agent ledgers, for the session-scale bench:
// preparePolicy reads the policy's state and cursors from the store into a PolicyFold, real sealed
// `calls` entries (crds sealEntry) are folded page by page per node, and commitStatus commits the
// round to the store in one transaction and builds the status from the store. Only the apiserver
// is left out: the status patch is captured (its body is what the operator would send), and
// CostReport writes are not expected (the month is open).
import pino from 'pino';
import { GENESIS_PREV, sealEntry } from '../../../crds/src/index.ts';
import type {
  CallRecord,
  CallsBody,
  CostPolicy,
  CostPolicyStatus,
  LedgerEntry,
} from '../../../crds/src/index.ts';
import { HourlyBook } from '../../../operator/src/anomaly/hourly-book.ts';
import { leafCall } from '../../../operator/src/budgets/test-ledger.ts';
import { ActivityWindow } from '../../../operator/src/guards/window.ts';
import type { CustomApi } from '../../../operator/src/controller/policies.ts';
import { preparePolicy, type PolicyRun } from '../../../operator/src/controller/policy-run.ts';
import { commitStatus, type CommitDeps } from '../../../operator/src/controller/status-commit.ts';
import type { AccountingStore } from '../../../operator/src/store/accounting.ts';
import { int } from '../../../operator/src/store/engine.ts';
import { budgetSpec, indexPage } from '../../../operator/src/budgets/accumulate.ts';
import { periodAt, periodSpecKey } from '../../../operator/src/budgets/periods.ts';
import {
  encodeState,
  newNamespaceAccum,
  type NamespaceAccum,
} from '../../../operator/src/budgets/state.ts';
import {
  BUDGET,
  CALLS_PER_SESSION,
  DAY_NS,
  DAYS,
  FIRST_DAY,
  namespaceOf,
  POLICY,
  sessionIdOf,
  tagSets,
  tagsOf,
} from './month-sql.ts';

export const NODES = 10;
const CALL_NANO = 2_250_000n;

/** The month's CostPolicy: one Monthly Session-scope budget, calls priced by the agents. */
export function monthPolicy(amount: string): CostPolicy {
  return {
    apiVersion: 'agentmeter.dev/v1alpha1',
    kind: 'CostPolicy',
    metadata: {
      name: POLICY,
      uid: 'bench-policy',
      generation: 1,
      resourceVersion: '1',
      creationTimestamp: '2026-10-01T00:00:00Z',
    },
    spec: {
      currency: 'USD',
      rates: { cpuCoreHour: '0.04' },
      budgets: [{ name: BUDGET, amount, period: 'Monthly', scope: 'Session' }],
      allocation: {
        tags: [
          { name: 'team', namespaceLabel: 'example.com/team' },
          { name: 'cost-center', podLabel: 'example.com/cost-center' },
          { name: 'gen_ai.agent.name', spanAttribute: 'gen_ai.agent.name' },
        ],
      },
    },
  } as CostPolicy;
}

/** Call j of session s: a priced gpt-5 call, one trace per session. */
function callOf(s: number, j: number, startNs: bigint): CallRecord {
  const endMs = Number((startNs + BigInt(j) * 45_000_000_000n) / 1_000_000n) + 1000;
  const spec = {
    kind: 'model',
    nano: CALL_NANO,
    item: 'gpt-5',
    input: 1000n,
    output: 100n,
  } as const;
  const call = leafCall(spec, s * CALLS_PER_SESSION + j, endMs);
  return { ...call, traceId: s.toString(16).padStart(32, '0'), provider: 'openai' };
}

const TAG_SETS = tagSets();

/** Session s's calls entry: its CALLS_PER_SESSION model calls on the month's last day. */
function sessionEntry(s: number, i: number): CallsBody {
  const ns = namespaceOf(s);
  const startNs = BigInt(FIRST_DAY + DAYS - 1) * DAY_NS + BigInt(i) * 1_000_000_000n;
  const calls = Array.from({ length: CALLS_PER_SESSION }, (_, j) => callOf(s, j, startNs));
  const end = BigInt(calls.at(-1)?.end ?? '0');
  return {
    kind: 'calls',
    time: { start: startNs.toString(), end: end.toString() },
    tick: `t${s}`,
    session: { namespace: ns, id: sessionIdOf(s) },
    pod: { uid: `u-${ns}-${s % 8}`, namespace: ns, name: `${ns}-runtime-${s % 8}` },
    calls,
    cost: {
      currency: 'USD',
      policy: { name: POLICY, generation: '1' },
      totalNano: (CALL_NANO * BigInt(CALLS_PER_SESSION)).toString(),
    },
    priced: true,
    // As the agents record them: the same tags the generated month gives the session.
    tags: tagsOf(s, TAG_SETS),
  };
}

/** Each node's ledger, grown by `append` a round at a time. */
export class NodeLedgers {
  readonly #last = new Map<string, LedgerEntry>();

  /** Sessions [from, from+count) as new sealed entries, spread over the nodes. */
  append(
    from: number,
    count: number,
  ): { node: string; after: LedgerEntry | undefined; entries: LedgerEntry[] }[] {
    const byNode = new Map<string, CallsBody[]>();
    for (let i = 0; i < count; i++) {
      const node = `node-${String((from + i) % NODES).padStart(2, '0')}`;
      const list = byNode.get(node) ?? [];
      list.push(sessionEntry(from + i, i));
      byNode.set(node, list);
    }
    return [...byNode].map(([node, bodies]) => {
      const after = this.#last.get(node);
      let prev = after?.hash ?? GENESIS_PREV;
      let seq = after ? BigInt(after.seq) : 0n;
      const entries = bodies.map((body) => {
        seq += 1n;
        const e = sealEntry({ node, agentId: `agent-${node}`, ...body }, prev, seq);
        prev = e.hash;
        return e;
      });
      const last = entries.at(-1);
      if (last) this.#last.set(node, last);
      return { node, after, entries };
    });
  }
}

/** The operator's round deps around a store, with the apiserver's status write captured. */
export class WiredRound {
  policy: CostPolicy;
  /** The last status body the round would have patched, and its size in bytes. */
  lastStatus: CostPolicyStatus | undefined;
  lastStatusBytes = 0;
  /** Bytes of each field of that status, as JSON. */
  lastStatusFields: Record<string, number> = {};
  readonly #deps: CommitDeps;
  readonly #ledgers = new NodeLedgers();
  readonly #nowMs: number;

  constructor(store: AccountingStore, policy: CostPolicy, nowMs: number) {
    this.policy = policy;
    this.#nowMs = nowMs;
    const custom = {
      patchClusterCustomObjectStatus: (req: { body: { status: CostPolicyStatus } }) => {
        this.lastStatus = req.body.status;
        this.lastStatusBytes = Buffer.byteLength(JSON.stringify(req.body));
        this.lastStatusFields = Object.fromEntries(
          Object.entries(req.body.status).map(([k, v]) => [
            k,
            Buffer.byteLength(JSON.stringify(v)),
          ]),
        );
        this.policy = {
          ...this.policy,
          metadata: {
            ...this.policy.metadata,
            resourceVersion: String(Number(this.policy.metadata.resourceVersion) + 1),
          },
          status: req.body.status,
        };
        return Promise.resolve(this.policy);
      },
      getClusterCustomObject: () => Promise.resolve(this.policy),
      listClusterCustomObject: () => Promise.reject(new Error('not used by the bench')),
      createClusterCustomObject: () =>
        Promise.reject(new Error('a closed period in the open month: not expected')),
    } as unknown as CustomApi;
    const clock = {
      now: () => performance.now(),
      date: () => new Date(this.#nowMs),
      setTimeout,
      clearTimeout,
    } as never;
    const noop = { inc: () => undefined };
    const logger = pino({ level: 'warn' });
    const windows = new ActivityWindow();
    const prepareDeps = {
      clock,
      store,
      custom,
      events: { record: () => Promise.resolve() },
      metrics: { apiWrites: noop },
      logger,
    } as never;
    this.#deps = {
      custom,
      store,
      events: { record: () => Promise.resolve() },
      metrics: { apiWrites: noop, guardTrips: noop, setBudgets: () => undefined } as never,
      logger,
      prepare: (p: CostPolicy) => preparePolicy(prepareDeps, p, { anchors: new Map() }),
      repull: () => Promise.reject(new Error('a cursor conflict: one writer only in the bench')),
      guardWindow: () => windows,
      history: new HourlyBook(),
    };
  }

  /** One round: sessions [from, from+count) arrive as new entries on the nodes. */
  async run(from: number, count: number): Promise<{ calls: number }> {
    const run: PolicyRun = await this.#deps.prepare(this.policy);
    for (const page of this.#ledgers.append(from, count)) {
      const after = page.after
        ? { node: page.node, seq: BigInt(page.after.seq), hash: page.after.hash }
        : { node: page.node, seq: 0n, hash: GENESIS_PREV };
      run.fold.add(indexPage(page.node, after, page.entries));
    }
    const r = await commitStatus(this.#deps, run, { unreachable: [], refused: [] });
    this.policy = r.outcome.policy;
    return { calls: count * CALLS_PER_SESSION };
  }
}

/**
 * The fold state a month of rounds over the bulk-loaded sessions leaves in the
 * store, committed before the first wired round: the budget's open period and each namespace's
 * costs in the period's report accumulator, which policy_state carries from round to round, and
 * the period's sessions in period_sessions (the CostReports' session counts). Returns the
 * encoded state's size in bytes.
 */
export async function seedMonthState(
  store: AccountingStore,
  policy: CostPolicy,
  nowMs: number,
): Promise<number> {
  const budget = policy.spec.budgets?.[0];
  if (budget === undefined) throw new Error('the bench policy has one budget');
  const period = periodAt(nowMs, budget.period, budget.timeZone);
  const namespaces = new Map<string, NamespaceAccum>();
  const costs = await store.engine.query<{ namespace: string; infra: unknown; tokens: unknown }>(
    `SELECT namespace, sum(infra_nano) AS infra, sum(tokens_nano) AS tokens FROM session_totals
     WHERE policy = $1 GROUP BY namespace`,
    [POLICY],
  );
  for (const row of costs) {
    const a = newNamespaceAccum();
    a.cost.cpu = int(row.infra);
    a.cost.tokens = int(row.tokens);
    namespaces.set(row.namespace, a);
  }
  const spec = periodSpecKey(budget.period, budget.timeZone);
  // Every session of the month, as the rounds would have added them, in one statement: a list
  // of a million sessions built here would be the bench's memory, not the operator's.
  await store.engine.run(
    `INSERT INTO period_sessions (policy, period_spec, period_start_ns, namespace, session_id)
     SELECT DISTINCT policy, $2, CAST($3 AS bigint), namespace, session_id
     FROM session_totals WHERE policy = $1`,
    [POLICY, spec, BigInt(period.start) * 1_000_000n],
  );
  const state = encodeState({
    budgets: new Map([
      [budget.name, { spec: budgetSpec(budget), ...period, sums: new Map<string, bigint>() }],
    ]),
    reports: new Map([[spec, { ...period, namespaces }]]),
    closing: [],
  });
  await store.commit({
    policy: POLICY,
    atNs: BigInt(nowMs) * 1_000_000n,
    cursors: [],
    state,
    countFromMs: 0,
    budgets: [],
    sessions: [],
    rollups: [],
    calls: [],
  });
  return Buffer.byteLength(state);
}
