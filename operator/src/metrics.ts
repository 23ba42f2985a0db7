// Operator metrics on a private registry. Budget series are per policy, budget and (for
// Namespace scope) namespace — bounded by namespaces — and never per session (invariant 7):
// Session-scope budgets export their largest spends by rank, and how many sessions spent.
// Money becomes a float only here, at the exposition edge, parsed from the exact decimal string.
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import { formatMoney } from '@agentmeter/crds';
import type { BudgetFigures } from './status/compute.ts';

type Labels = Record<string, string>;

/** Ranks exported per Session-scope budget: enough for a top-N panel, bounded whatever the
 * number of sessions. */
export const TOP_SESSION_RANKS = 10;

function units(nano: bigint): number {
  return Number(formatMoney(nano));
}

export class OperatorMetrics {
  readonly registry: Registry;
  readonly spend: Gauge;
  readonly limit: Gauge;
  readonly utilization: Gauge;
  readonly topSessionSpend: Gauge;
  readonly sessions: Gauge;
  readonly lag: Gauge<'node'>;
  readonly chainFailures: Counter<'node'>;
  readonly entries: Counter<'node' | 'result'>;
  readonly apiWrites: Counter<'verb' | 'resource'>;
  readonly roundSeconds: Histogram;
  readonly apiserverUp: Gauge;
  readonly agents: Gauge<'state'>;
  readonly guardTrips: Counter<'policy' | 'guard'>;
  readonly anomalies: Gauge<'policy' | 'dimension' | 'window_hours'>;
  readonly storeBytes: Gauge;
  readonly storeRows: Gauge<'table'>;
  readonly storePruned: Counter<'table'>;
  readonly #anomalySeries = new Map<string, Labels[]>();
  readonly #series = new Map<
    string,
    { spend: Labels[]; limit: Labels[]; utilization: Labels[]; sessions: Labels[]; top: Labels[] }
  >();

  constructor(registry: Registry) {
    this.registry = registry;
    const registers = [registry];
    this.spend = new Gauge({
      name: 'agentmeter_budget_spend',
      help: 'Spend in the current budget period, in currency units; per namespace for Namespace-scope budgets',
      labelNames: ['policy', 'budget', 'currency', 'scope', 'namespace'],
      registers,
    });
    this.limit = new Gauge({
      name: 'agentmeter_budget_limit',
      help: 'Budget amount per scope key, in currency units',
      labelNames: ['policy', 'budget', 'currency', 'scope'],
      registers,
    });
    this.utilization = new Gauge({
      name: 'agentmeter_budget_utilization_ratio',
      help: 'Spend over amount of the scope key nearest to its limit (per namespace for Namespace scope)',
      labelNames: ['policy', 'budget', 'scope', 'namespace'],
      registers,
    });
    this.topSessionSpend = new Gauge({
      name: 'agentmeter_budget_top_session_spend',
      help: `Spend of the rank-th largest session in a Session-scope budget's current period (ranks 1-${TOP_SESSION_RANKS}), in currency units; sessions are never labels`,
      labelNames: ['policy', 'budget', 'rank', 'currency'],
      registers,
    });
    this.sessions = new Gauge({
      name: 'agentmeter_budget_sessions',
      help: "Sessions with spend in a Session-scope budget's current period",
      labelNames: ['policy', 'budget'],
      registers,
    });
    this.lag = new Gauge({
      name: 'agentmeter_operator_collection_lag_seconds',
      help: 'Seconds since the operator last collected an agent up to its ledger head',
      labelNames: ['node'],
      registers,
    });
    this.chainFailures = new Counter({
      name: 'agentmeter_operator_chain_verification_failures_total',
      help: 'Ledger pulls refused because the hash chain did not verify',
      labelNames: ['node'],
      registers,
    });
    this.entries = new Counter({
      name: 'agentmeter_operator_ledger_entries_total',
      help: 'Ledger entries pulled, by result: accepted or refused',
      labelNames: ['node', 'result'],
      registers,
    });
    this.apiWrites = new Counter({
      name: 'agentmeter_operator_apiserver_writes_total',
      help: 'Writes the operator sent to the apiserver, by verb and resource',
      labelNames: ['verb', 'resource'],
      registers,
    });
    this.roundSeconds = new Histogram({
      name: 'agentmeter_operator_collection_round_seconds',
      help: 'Duration of one collection and reconcile round',
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.apiserverUp = new Gauge({
      name: 'agentmeter_operator_apiserver_up',
      help: '1 when the last round reached the apiserver, 0 during an outage',
      registers,
    });
    this.agents = new Gauge({
      name: 'agentmeter_operator_agents',
      help: 'Agents discovered, by state: ok, unreachable or refused',
      labelNames: ['state'],
      registers,
    });
    this.guardTrips = new Counter({
      name: 'agentmeter_guard_trips_total',
      help: 'Sessions a runaway-session guard newly tripped on, by policy and guard (sessions are never labels)',
      labelNames: ['policy', 'guard'],
      registers,
    });
    this.anomalies = new Gauge({
      name: 'agentmeter_spend_anomalies',
      help: 'Spend anomalies active in the last closed hour, by policy, dimension (namespace, tag, model, session) and window in hours; keys are never labels',
      labelNames: ['policy', 'dimension', 'window_hours'],
      registers,
    });
    this.storeBytes = new Gauge({
      name: 'agentmeter_store_bytes',
      help: 'Bytes the accounting store takes on disk (its database only), as of the last upkeep',
      registers,
    });
    this.storeRows = new Gauge({
      name: 'agentmeter_store_rows',
      help: 'Rows in each table of the accounting store, as of the last upkeep',
      labelNames: ['table'],
      registers,
    });
    this.storePruned = new Counter({
      name: 'agentmeter_store_pruned_rows_total',
      help: 'Rows the store upkeep deleted as past their retention, by table',
      labelNames: ['table'],
      registers,
    });
  }

  /** Replaces the anomaly counts of `policy`; counts are keyed "dimension/windowHours". */
  setAnomalies(policy: string, counts: ReadonlyMap<string, number>): void {
    for (const l of this.#anomalySeries.get(policy) ?? []) this.anomalies.remove(l);
    const mine: Labels[] = [];
    for (const [k, n] of counts) {
      const [dimension = '', windowHours = ''] = k.split('/');
      const labels = { policy, dimension, window_hours: windowHours };
      this.anomalies.set(labels, n);
      mine.push(labels);
    }
    this.#anomalySeries.set(policy, mine);
  }

  /** Replaces the budget series of `policy`. */
  setBudgets(policy: string, currency: string, figures: readonly BudgetFigures[]): void {
    this.forgetPolicy(policy);
    const mine = {
      spend: [] as Labels[],
      limit: [] as Labels[],
      utilization: [] as Labels[],
      sessions: [] as Labels[],
      top: [] as Labels[],
    };
    for (const f of figures) {
      const scope = f.budget.scope ?? 'Policy';
      const base = { policy, budget: f.budget.name };
      const limit = { ...base, currency, scope };
      this.limit.set(limit, units(f.amountNano));
      mine.limit.push(limit);
      const total = { ...base, currency, scope, namespace: '' };
      this.spend.set(total, units(f.totalNano));
      mine.spend.push(total);
      const util = { ...base, scope, namespace: '' };
      this.utilization.set(util, Number(f.maxNano) / Number(f.amountNano));
      mine.utilization.push(util);
      if (scope === 'Session') {
        this.sessions.set(base, f.sorted.length);
        mine.sessions.push(base);
        // f.sorted is by spend, largest first.
        f.sorted.slice(0, TOP_SESSION_RANKS).forEach(([, nano], i) => {
          const top = { ...base, rank: String(i + 1), currency };
          this.topSessionSpend.set(top, units(nano));
          mine.top.push(top);
        });
      }
      if (scope === 'Namespace') {
        for (const [ns, nano] of f.sorted) {
          const s = { ...base, currency, scope, namespace: ns };
          this.spend.set(s, units(nano));
          mine.spend.push(s);
          const u = { ...base, scope, namespace: ns };
          this.utilization.set(u, Number(nano) / Number(f.amountNano));
          mine.utilization.push(u);
        }
      }
    }
    this.#series.set(policy, mine);
  }

  forgetPolicy(policy: string): void {
    const old = this.#series.get(policy);
    if (old === undefined) return;
    for (const l of old.spend) this.spend.remove(l);
    for (const l of old.limit) this.limit.remove(l);
    for (const l of old.utilization) this.utilization.remove(l);
    for (const l of old.sessions) this.sessions.remove(l);
    for (const l of old.top) this.topSessionSpend.remove(l);
    this.#series.delete(policy);
  }

  policies(): string[] {
    return [...this.#series.keys()];
  }
}
