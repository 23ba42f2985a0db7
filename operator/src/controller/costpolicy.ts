// The CostPolicy reconcile, one collection round at a time, shaped like kube-rs controller-rs:
// reconcile, error policy, status and metrics here; each step is its own module.
//
// A round: discover agents → pull each agent's ledger once, from the lowest cursor any policy
// holds for it in the store, folding each verified page into every policy (pull-ledgers) → per
// policy, commit cursors + sums + session totals + rollups to the store in one transaction, then
// a bounded status (budgets from the store's sums, guard trips, forecasts from the hourly book)
// in one guarded /status patch (status-commit, status-build) → acknowledge to each agent the lowest
// cursor over all policies (acknowledge) → enforce Suspend budgets and guards, marking tripped
// sessions on every agent (enforcement, session-marks) → once per closed hour, the spend
// detectors (anomaly-watch) → hourly, the store's retention and size metrics (store-upkeep). A chain that stops verifying is told once (chain-failures).
// Closed periods become CostReports before the status that drops them is written (policy-run,
// report-writer), so a crash anywhere repeats work, never counts.
import type { Logger } from 'pino';
import type { CostPolicy, LedgerPosition } from '@agentmeter/crds';
import type { Clock, EventRecorder } from '../runtime/index.ts';
import type { Agent, Discover } from '../collect/agents.ts';
import type { AgentApi } from '../collect/client.ts';
import type { ChainFailure, PullOptions } from '../collect/pull.ts';
import type { Enforcer } from '../enforce/apply.ts';
import type { AccountingStore, RetentionDays } from '../store/accounting.ts';
import { HourlyBook } from '../anomaly/hourly-book.ts';
import { ActivityWindow } from '../guards/window.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { acknowledge } from './acknowledge.ts';
import { AnomalyWatch } from './anomaly-watch.ts';
import { ChainFailureEvents } from './chain-failures.ts';
import { suspensions } from './enforcement.ts';
import { mapLimit } from './map-limit.ts';
import { listPolicies, policyRef, type CustomApi } from './policies.ts';
import { preparePolicy, type PolicyRun, type RoundPositions } from './policy-run.ts';
import { pullAgent, readInfo, repull, type AgentPull, type PullDeps } from './pull-ledgers.ts';
import { SessionMarks } from './session-marks.ts';
import { StoreUpkeep } from './store-upkeep.ts';
import { outageNote, type Health, type Outage } from './status-build.ts';
import { commitStatus, ReconcileError, type PolicyOutcome } from './status-commit.ts';

export { ReconcileError } from './status-commit.ts';

export interface CostPolicyControllerOptions {
  readonly custom: CustomApi;
  readonly agentApi: AgentApi;
  readonly discover: Discover;
  /** Where the accounting lives: cursors, sums, session totals, rollups. */
  readonly store: AccountingStore;
  /** How long the store keeps each kind of row (default DEFAULT_RETENTION). */
  readonly retention?: RetentionDays;
  readonly enforcer?: Enforcer;
  readonly events: EventRecorder;
  readonly metrics: OperatorMetrics;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly pull?: PullOptions;
  /** Agents pulled in parallel. */
  readonly concurrency?: number;
  /** Policies prepared and their status written in parallel. */
  readonly writeConcurrency?: number;
}

export interface RoundSummary {
  readonly agents: number;
  readonly policies: number;
  readonly entries: number;
  readonly statusWrites: number;
  readonly reports: number;
  readonly unreachable: string[];
  readonly refused: string[];
}

export class CostPolicyController {
  readonly #o: CostPolicyControllerOptions;
  readonly #log: Logger;
  readonly #pullDeps: PullDeps;
  readonly #marks: SessionMarks;
  readonly #chains: ChainFailureEvents;
  /** Per policy: the guard activity its status counts, kept across rounds. */
  readonly #windows = new Map<string, ActivityWindow>();
  /** Hourly spend per stream of each policy, for forecasts and the anomaly detectors. */
  readonly #history = new HourlyBook();
  readonly #anomalies: AnomalyWatch;
  readonly #upkeep: StoreUpkeep;
  /** An apiserver outage in progress, and one that ended but is not yet on every policy. */
  #outage: { since: number; failedRounds: number } | undefined;
  #recovered: Outage | undefined;

  constructor(options: CostPolicyControllerOptions) {
    this.#o = options;
    this.#log = options.logger;
    const concurrency = options.concurrency ?? 16;
    this.#pullDeps = { ...options, concurrency };
    this.#marks = new SessionMarks({ ...options, concurrency });
    this.#chains = new ChainFailureEvents(options.events);
    this.#anomalies = new AnomalyWatch({ ...options, history: this.#history });
    this.#upkeep = new StoreUpkeep(options);
  }

  /** One full round. Throws only when the apiserver cannot be reached at all (error policy: the
   * runtime controller retries with backoff); per-agent and per-policy failures are isolated. */
  async round(): Promise<RoundSummary> {
    const { metrics, clock } = this.#o;
    const started = clock.now();
    const { policies, agents } = await this.#listOrRecordOutage();
    const writeConcurrency = this.#o.writeConcurrency ?? 16;
    const infos = await mapLimit(agents, this.#pullDeps.concurrency, (a) =>
      readInfo(this.#pullDeps, a),
    );
    // A cursor the agent compacted past: that policy starts at the agent's anchor.
    const anchors = new Map<string, bigint>();
    agents.forEach((a, i) => {
      const info = infos[i];
      if (info) anchors.set(a.node, info.anchor.seq);
    });
    const positions: RoundPositions = { anchors };
    const prepare = (p: CostPolicy) => preparePolicy(this.#o, p, positions);
    let writes = 0;
    let reports = 0;
    let failed = 0;
    const fail = (p: CostPolicy, err: unknown): null => {
      this.#log.error(
        { policy: p.metadata.name, err: (err as Error).message },
        'reconcile of policy failed',
      );
      failed++;
      return null;
    };

    const runs = await mapLimit(policies, writeConcurrency, async (p) => {
      try {
        const run = await prepare(p);
        reports += run.reports;
        return run;
      } catch (err) {
        return fail(p, err);
      }
    });
    const folding = runs.filter((r): r is PolicyRun => r !== null);
    const pulls = await mapLimit(agents, this.#pullDeps.concurrency, async (a, i) => {
      const info = infos[i];
      return info ? pullAgent(this.#pullDeps, a, info, folding) : null;
    });
    const ok = pulls.filter((p): p is AgentPull => p !== null);
    const unreachable = agents.filter((_, i) => pulls[i] === null).map((a) => a.node);
    const refused = ok.filter((p) => p.failure !== null);
    metrics.agents.set({ state: 'ok' }, ok.length - refused.length);
    metrics.agents.set({ state: 'unreachable' }, unreachable.length);
    metrics.agents.set({ state: 'refused' }, refused.length);
    const health: Health = {
      unreachable,
      refused: refused.map((p) => ({ node: p.agent.node, failure: p.failure as ChainFailure })),
      ...(this.#recovered ? { outage: this.#recovered } : {}),
    };
    await this.#chains.report(health.refused, policies);
    const commitDeps = {
      ...this.#o,
      prepare,
      repull: (run: PolicyRun) => repull(this.#pullDeps, run, ok),
      guardWindow: (name: string) => this.#window(name),
      history: this.#history,
    };
    const outcomes = await mapLimit(runs, writeConcurrency, async (run, i) => {
      if (run === null) return null;
      try {
        const r = await commitStatus(commitDeps, run, health);
        writes += r.writes;
        reports += r.reports;
        return r.outcome;
      } catch (err) {
        return fail(policies[i] as CostPolicy, err);
      }
    });
    // The outage is on every policy's status once all were written; then one Event each.
    if (health.outage !== undefined && failed === 0) {
      for (const p of policies) {
        await this.#o.events.record(policyRef(p), {
          type: 'Warning',
          reason: 'ApiserverOutage',
          action: 'Collect',
          note: outageNote(health.outage),
        });
      }
      this.#recovered = undefined;
    }

    // A policy whose commit failed holds on to what the store held when its round began; one
    // that could not even be prepared holds everything (nothing is acknowledged).
    const counted: LedgerPosition[][] = policies.map((_, i) => [
      ...(outcomes[i]?.cursors ?? runs[i]?.from ?? []),
    ]);
    await acknowledge(this.#pullDeps, ok, counted);
    await this.#enforce(
      outcomes.filter((o): o is PolicyOutcome => o !== null),
      agents,
    );
    await this.#detect(policies);
    await this.#upkeep.maybeRun();
    const live = new Set(policies.map((p) => p.metadata.name ?? ''));
    for (const name of metrics.policies()) if (!live.has(name)) metrics.forgetPolicy(name);
    for (const name of this.#windows.keys()) if (!live.has(name)) this.#windows.delete(name);
    for (const name of this.#history.policies()) if (!live.has(name)) this.#history.forget(name);
    metrics.roundSeconds.observe((clock.now() - started) / 1000);
    return {
      agents: agents.length,
      policies: policies.length,
      entries: ok.reduce((n, p) => n + p.entries, 0),
      statusWrites: writes,
      reports,
      unreachable,
      refused: refused.map((p) => p.agent.node),
    };
  }

  /** Lists policies and agents. A failure is an apiserver outage: recorded here, shown on every
   * policy's status once the apiserver answers again, and thrown for the controller's backoff. */
  async #listOrRecordOutage(): Promise<{ policies: CostPolicy[]; agents: Agent[] }> {
    const { metrics, clock } = this.#o;
    let policies: CostPolicy[];
    let agents: Agent[];
    try {
      policies = await listPolicies(this.#o.custom);
      agents = await this.#o.discover();
      metrics.apiserverUp.set(1);
    } catch (err) {
      metrics.apiserverUp.set(0);
      // A condition cannot be stored while the apiserver is down: /readyz and the
      // apiserver_up metric show the outage as it happens, the status records it afterwards.
      this.#outage ??= { since: clock.date().getTime(), failedRounds: 0 };
      this.#outage.failedRounds++;
      throw new ReconcileError(`listing policies and agents: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (this.#outage !== undefined) {
      this.#recovered = { ...this.#outage, until: clock.date().getTime() };
      this.#outage = undefined;
      this.#log.warn(this.#recovered, 'apiserver reachable again after an outage');
    }
    return { policies, agents };
  }

  #window(policy: string): ActivityWindow {
    let w = this.#windows.get(policy);
    if (w === undefined) {
      w = new ActivityWindow();
      this.#windows.set(policy, w);
    }
    return w;
  }

  /** The detectors, once per closed hour; a failure is logged and tried next round. */
  async #detect(policies: readonly CostPolicy[]): Promise<void> {
    try {
      const raised = await this.#anomalies.check(policies, this.#o.clock.date().getTime());
      if (raised.length > 0) this.#log.warn({ findings: raised.length }, 'spend anomalies raised');
    } catch (err) {
      this.#log.error({ err: (err as Error).message }, 'anomaly detection failed');
    }
  }

  async #enforce(outcomes: readonly PolicyOutcome[], agents: readonly Agent[]): Promise<void> {
    const { namespaces, sessions, sessionBudgets, marks } = suspensions(outcomes);
    if (this.#o.enforcer) {
      try {
        await this.#o.enforcer.enforce(namespaces, sessions);
      } catch (err) {
        this.#log.error({ err: (err as Error).message }, 'enforcement failed; retried next round');
      }
    }
    if (this.#marks.due(sessionBudgets || marks.size > 0)) await this.#marks.sync(marks, agents);
  }
}
