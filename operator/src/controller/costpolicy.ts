// The CostPolicy reconcile, one collection round at a time (shaped like kube-rs controller-rs:
// reconcile, error policy, status, metrics in one file).
//
// A round: discover agents → pull each agent's ledger once, from the lowest cursor any policy
// holds for it, verifying the hash chain and folding each page into every policy (entries past
// its own cursor) before dropping it → per policy, write accumulators + cursors in ONE /status
// merge patch guarded by resourceVersion, only when they changed (a 409 re-reads, re-pulls from
// the stored cursors and recomputes; nothing is ever added twice) → acknowledge to each agent
// the lowest cursor over all policies → enforce Suspend budgets. Closed periods become CostReports
// before the status that drops them is written, so a crash anywhere repeats work, never counts.
import type { CustomObjectsApi } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { COST_POLICY_GVK, COST_REPORT_GVK } from '@agentmeter/crds';
import { isConflict, statusCodeOf } from '@agentmeter/kube-client';
import type { CostPolicy, CostPolicyStatus, CostReport, LedgerPosition } from '@agentmeter/crds';
import { mergePatchOptions, setCondition } from '../runtime/index.ts';
import type {
  Clock,
  Condition,
  ConditionUpdate,
  EventRecorder,
  ObjectRef,
} from '../runtime/index.ts';
import { indexPage, PolicyFold } from '../budgets/accumulate.ts';
import type { PolicyView } from '../budgets/accumulate.ts';
import { rfc3339 } from '../budgets/periods.ts';
import { decodeCursors, encodeCursors } from '../budgets/cursors.ts';
import { decodeState, encodeState, StateDecodeError } from '../budgets/state.ts';
import type { ClosedPeriod } from '../budgets/state.ts';
import type { Agent, Discover } from '../collect/agents.ts';
import type { AgentApi, LedgerInfo } from '../collect/client.ts';
import { pullChain } from '../collect/pull.ts';
import type { ChainFailure, PullOptions } from '../collect/pull.ts';
import type { Enforcer } from '../enforce/apply.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { buildReports } from '../reports/build.ts';
import { computeBudgets, newCrossings } from '../status/compute.ts';
import type { BudgetFigures } from '../status/compute.ts';

const { group, version, plural } = COST_POLICY_GVK;
const MAX_ATTEMPTS = 6;
const LIST_PAGE = 25;

export interface CostPolicyControllerOptions {
  readonly custom: Pick<
    CustomObjectsApi,
    | 'listClusterCustomObject'
    | 'getClusterCustomObject'
    | 'patchClusterCustomObjectStatus'
    | 'createClusterCustomObject'
  >;
  readonly agentApi: AgentApi;
  readonly discover: Discover;
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

interface AgentPull {
  readonly agent: Agent;
  readonly info: LedgerInfo;
  /** Verified entries pulled this round. */
  readonly entries: number;
  readonly failure: ChainFailure | null;
}

/** One policy's reconcile in progress: its stored object and the fold of this round's pages. */
interface PolicyRun {
  readonly policy: CostPolicy;
  readonly now: number;
  /** CostReports written while preparing. */
  readonly reports: number;
  readonly fold: PolicyFold;
}

interface PolicyOutcome {
  readonly cursors: readonly LedgerPosition[];
  readonly figures: readonly BudgetFigures[];
  readonly policy: CostPolicy;
  readonly namespaces: readonly string[];
}

export class ReconcileError extends Error {
  override readonly name = 'ReconcileError';
}

async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Drops managedFields, which the operator never reads. */
function slim(p: CostPolicy): CostPolicy {
  delete (p.metadata as { managedFields?: unknown }).managedFields;
  return p;
}

/** The cursors a policy's status holds; none when unreadable, so nothing is acknowledged. */
function storedCursors(p: CostPolicy, shared: Map<string, LedgerPosition>): LedgerPosition[] {
  try {
    return decodeCursors(p.status?.collection?.cursors, shared);
  } catch (err) {
    if (err instanceof StateDecodeError) return [];
    throw err;
  }
}

function ms(timestamp: string | undefined): number {
  return timestamp === undefined ? 0 : Date.parse(timestamp);
}

function policyRef(p: CostPolicy): ObjectRef {
  return {
    apiVersion: `${group}/${version}`,
    kind: 'CostPolicy',
    name: p.metadata.name ?? '',
    ...(p.metadata.uid ? { uid: p.metadata.uid } : {}),
  };
}

/** JSON with object keys sorted: the apiserver returns status with its keys reordered. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** The status fields the operator owns, in a stable order for comparison. */
function owned(s: CostPolicyStatus | undefined): string {
  return canonical([
    s?.observedGeneration,
    s?.conditions ?? [],
    s?.topBudgetUtilization,
    s?.budgets ?? [],
    s?.lastCollectionTime,
    s?.collection?.cursors ?? '',
    s?.accumulatorState ?? '',
  ]);
}

export class CostPolicyController {
  readonly #o: CostPolicyControllerOptions;
  readonly #log: Logger;
  /** Nodes whose chain failed last round, to record one Event per failure onset. */
  #failing = new Set<string>();
  #overBudgetSessions = new Set<string>();
  /** An apiserver outage in progress, and one that ended but is not yet on every policy. */
  #outage: { since: number; failedRounds: number } | undefined;
  #recovered: Outage | undefined;
  /** Cursor positions decoded this round, shared by the policies that stand at them. */
  #positions = new Map<string, LedgerPosition>();

  constructor(options: CostPolicyControllerOptions) {
    this.#o = options;
    this.#log = options.logger;
  }

  /** One full round. Throws only when the apiserver cannot be reached at all (error policy: the
   * runtime controller retries with backoff); per-agent and per-policy failures are isolated. */
  async round(): Promise<RoundSummary> {
    const { metrics, clock } = this.#o;
    const started = clock.now();
    this.#positions = new Map();
    let policies: CostPolicy[];
    let agents: Agent[];
    try {
      policies = await this.#listPolicies();
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
    const concurrency = this.#o.concurrency ?? 16;
    const writeConcurrency = this.#o.writeConcurrency ?? 16;
    const infos = await mapLimit(agents, concurrency, (a) => this.#info(a));
    // A cursor the agent compacted past: that policy starts at the agent's anchor.
    const anchors = new Map<string, bigint>();
    agents.forEach((a, i) => {
      const info = infos[i];
      if (info) anchors.set(a.node, info.anchor.seq);
    });
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
        const run = await this.#prepare(p, anchors);
        reports += run.reports;
        return run;
      } catch (err) {
        return fail(p, err);
      }
    });
    const folding = runs.filter((r): r is PolicyRun => r !== null);
    const pulls = await mapLimit(agents, concurrency, async (a, i) => {
      const info = infos[i];
      return info ? this.#pull(a, info, folding) : null;
    });
    const ok = pulls.filter((p): p is AgentPull => p !== null);
    const unreachableNodes = agents.filter((_, i) => pulls[i] === null).map((a) => a.node);
    const refused = ok.filter((p) => p.failure !== null);
    metrics.agents.set({ state: 'ok' }, ok.length - refused.length);
    metrics.agents.set({ state: 'unreachable' }, unreachableNodes.length);
    metrics.agents.set({ state: 'refused' }, refused.length);
    await this.#reportChainFailures(refused, policies);
    const health: Health = {
      unreachable: unreachableNodes,
      refused: refused.map((p) => ({ node: p.agent.node, failure: p.failure as ChainFailure })),
      ...(this.#recovered ? { outage: this.#recovered } : {}),
    };
    const outcomes = await mapLimit(runs, writeConcurrency, async (run, i) => {
      if (run === null) return null;
      try {
        const r = await this.#commit(run, ok, anchors, health);
        writes += r.writes;
        reports += r.reports;
        return r.outcome;
      } catch (err) {
        return fail(policies[i] as CostPolicy, err);
      }
    });
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
    await this.#acknowledge(ok, policies, outcomes);
    await this.#enforce(
      outcomes.filter((o): o is PolicyOutcome => o !== null),
      agents,
    );
    const live = new Set(policies.map((p) => p.metadata.name ?? ''));
    for (const name of metrics.policies()) if (!live.has(name)) metrics.forgetPolicy(name);
    metrics.roundSeconds.observe((clock.now() - started) / 1000);
    return {
      agents: agents.length,
      policies: policies.length,
      entries: ok.reduce((n, p) => n + p.entries, 0),
      statusWrites: writes,
      reports,
      unreachable: unreachableNodes,
      refused: refused.map((p) => p.agent.node),
    };
  }

  /** Every CostPolicy, in pages: with a cursor per node each status is large, and one list of
   * them all would be held as text, buffer and objects at once. */
  async #listPolicies(): Promise<CostPolicy[]> {
    const policies: CostPolicy[] = [];
    let next: string | undefined;
    do {
      const list = (await this.#o.custom.listClusterCustomObject({
        group,
        version,
        plural,
        limit: LIST_PAGE,
        ...(next ? { _continue: next } : {}),
      })) as { items: CostPolicy[]; metadata?: { continue?: string } };
      for (const p of list.items) policies.push(slim(p));
      next = list.metadata?.continue || undefined;
    } while (next !== undefined);
    return policies;
  }

  /** One Warning Event per policy when an agent's chain starts failing (not every round). */
  async #reportChainFailures(
    refused: readonly AgentPull[],
    policies: readonly CostPolicy[],
  ): Promise<void> {
    const now = new Set(refused.map((p) => p.agent.node));
    for (const p of refused) {
      if (this.#failing.has(p.agent.node)) continue;
      const f = p.failure as ChainFailure;
      for (const policy of policies) {
        await this.#o.events.record(policyRef(policy), {
          type: 'Warning',
          reason: 'LedgerChainBroken',
          action: 'Collect',
          note: `ledger of node ${p.agent.node} does not verify (${f.reason} at seq ${f.seq}: ${f.detail}); its entries from there on are refused`,
        });
      }
    }
    this.#failing = now;
  }

  async #info(agent: Agent): Promise<LedgerInfo | null> {
    try {
      return await this.#o.agentApi.info(agent);
    } catch (err) {
      this.#log.warn({ node: agent.node, err: (err as Error).message }, 'agent unreachable');
      return null;
    }
  }

  /** Pulls one agent once, from the lowest position any policy needs, folding each verified
   * page into every policy and dropping it; null when the agent could not be read. */
  async #pull(
    agent: Agent,
    info: LedgerInfo,
    runs: readonly PolicyRun[],
  ): Promise<AgentPull | null> {
    const { agentApi, metrics, clock } = this.#o;
    const node = agent.node;
    const anchor: LedgerPosition = { node, ...info.anchor };
    let start: LedgerPosition | undefined;
    for (const run of runs) {
      const from = run.fold.cursor(node) ?? anchor;
      if (start === undefined || from.seq < start.seq) start = from;
    }
    if (start === undefined || start.seq >= info.head.seq) {
      metrics.lag.set({ node }, 0);
      return { agent, info, entries: 0, failure: null };
    }
    try {
      const r = await pullChain(
        agentApi,
        agent,
        start,
        (after, entries) => {
          const page = indexPage(node, after, entries);
          for (const run of runs) run.fold.add(page);
        },
        this.#o.pull,
      );
      metrics.entries.inc({ node, result: 'accepted' }, r.count);
      if (r.failure) {
        metrics.chainFailures.inc({ node });
        metrics.entries.inc({ node, result: 'refused' });
        this.#log.error(
          { node, ...r.failure },
          'ledger chain verification failed; entries refused',
        );
      }
      const lagMs = r.complete
        ? 0
        : clock.date().getTime() - (r.last ? Number(BigInt(r.last.time.end) / 1_000_000n) : 0);
      metrics.lag.set({ node }, Math.max(0, lagMs / 1000));
      return { agent, info, entries: r.count, failure: r.failure };
    } catch (err) {
      // What was folded before the error stays folded: its cursors move with it.
      this.#log.warn({ node, err: (err as Error).message }, 'ledger pull failed');
      return null;
    }
  }

  /** A policy's stored state and cursors, ready to fold pages into; closed periods it still
   * holds become CostReports first. */
  async #prepare(policy: CostPolicy, anchors: ReadonlyMap<string, bigint>): Promise<PolicyRun> {
    const now = this.#o.clock.date().getTime();
    let committed;
    let stored;
    try {
      committed = decodeState(policy.status?.accumulatorState);
      stored = decodeCursors(policy.status?.collection?.cursors, this.#positions);
    } catch (err) {
      if (!(err instanceof StateDecodeError)) throw err;
      // Counting on from a corrupt state would double count or lose; stop and say so.
      await this.#writeConditions(policy, [
        { type: 'Ready', status: 'False', reason: 'StateCorrupt', message: err.message },
      ]);
      throw err;
    }
    let reports = 0;
    if (committed.closing.length > 0) {
      reports = await this.#writeReports(policy, committed.closing);
      committed = { ...committed, closing: [] };
    }
    const cursors = stored.filter((c) => c.seq >= (anchors.get(c.node) ?? 0n));
    const view: PolicyView = {
      identity: {
        name: policy.metadata.name ?? '',
        currency: policy.spec.currency,
        createdMs: ms(policy.metadata.creationTimestamp),
        rates: policy.spec.rates,
      },
      generation: policy.metadata.generation ?? 1,
      budgets: policy.spec.budgets ?? [],
    };
    return { policy, now, reports, fold: new PolicyFold(committed, cursors, view, now) };
  }

  /** After a conflict this round's pages are gone: pull again from the fresh cursors, from the
   * agents that answered this round. */
  async #repull(run: PolicyRun, pulls: readonly AgentPull[]): Promise<void> {
    await mapLimit(pulls, this.#o.concurrency ?? 16, async ({ agent, info }) => {
      const from = run.fold.cursor(agent.node) ?? { node: agent.node, ...info.anchor };
      if (from.seq >= info.head.seq) return;
      try {
        await pullChain(
          this.#o.agentApi,
          agent,
          from,
          (after, entries) => run.fold.add(indexPage(agent.node, after, entries)),
          this.#o.pull,
        );
      } catch (err) {
        this.#log.warn(
          { node: agent.node, err: (err as Error).message },
          'ledger re-pull failed; the rest is counted next round',
        );
      }
    });
  }

  async #commit(
    first: PolicyRun,
    pulls: readonly AgentPull[],
    anchors: ReadonlyMap<string, bigint>,
    health: Health,
  ): Promise<{ outcome: PolicyOutcome; writes: number; reports: number }> {
    const { custom, events, metrics } = this.#o;
    let run = first;
    let writes = 0;
    let reports = 0;
    const name = run.policy.metadata.name ?? '';
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      let { policy } = run;
      const { now } = run;
      try {
        const r = run.fold.finish();
        const previous = policy.status;
        const lastCollection =
          r.counted > 0 || !previous?.lastCollectionTime
            ? rfc3339(now)
            : previous.lastCollectionTime;
        const asOf = Math.max(ms(lastCollection), now - 1) === now ? now : ms(lastCollection);
        const computed = computeBudgets(policy.spec, r.state, asOf);
        const status = this.#status(
          policy,
          computed,
          health,
          r.mismatches.map((m) => `${m.node}: ${m.detail}`),
          now,
        );
        const next: CostPolicyStatus = {
          ...status,
          lastCollectionTime: lastCollection,
          collection: { cursors: encodeCursors(r.cursors) },
          accumulatorState: encodeState(r.state),
        };
        if (owned(next) !== owned(previous)) {
          const body = {
            metadata: { resourceVersion: policy.metadata.resourceVersion },
            status: next,
          };
          policy = slim(
            (await custom.patchClusterCustomObjectStatus(
              { group, version, plural, name, body },
              mergePatchOptions(),
            )) as CostPolicy,
          );
          writes++;
          metrics.apiWrites.inc({ verb: 'patch', resource: 'costpolicies/status' });
          for (const c of newCrossings(previous?.budgets, next.budgets ?? [])) {
            const b = next.budgets?.find((x) => x.name === c.budget);
            await events.record(policyRef(policy), {
              type: c.threshold >= 100 ? 'Warning' : 'Normal',
              reason: c.threshold >= 100 ? 'BudgetExceeded' : 'BudgetThresholdReached',
              action: 'Notify',
              note: `budget ${c.budget} reached ${c.threshold}% in the period from ${c.periodStart}: spent ${b?.spent ?? '?'} of ${policy.spec.budgets?.find((x) => x.name === c.budget)?.amount ?? '?'} ${policy.spec.currency} (top scope ${b?.topScopes?.[0]?.key ?? '*'})`,
            });
          }
          if (r.state.closing.length > 0) {
            // Write its reports, then drop it: everything pulled is behind the new cursors.
            run = await this.#prepare(policy, anchors);
            reports += run.reports;
            continue;
          }
        }
        metrics.setBudgets(name, policy.spec.currency, computed.figures);
        const namespaces = [...r.state.reports.values()].flatMap((x) => [...x.namespaces.keys()]);
        return {
          outcome: { cursors: r.cursors, figures: computed.figures, policy, namespaces },
          writes,
          reports,
        };
      } catch (err) {
        if (!isConflict(err)) throw err;
        // Someone (a previous leader, a spec update) wrote first: start again from theirs.
        this.#log.info(
          { policy: name, attempt },
          'status conflict; recomputing from the stored state',
        );
        policy = slim(
          (await custom.getClusterCustomObject({ group, version, plural, name })) as CostPolicy,
        );
        run = await this.#prepare(policy, anchors);
        reports += run.reports;
        await this.#repull(run, pulls);
      }
    }
    throw new ReconcileError(
      `policy ${name}: status still conflicting after ${MAX_ATTEMPTS} attempts`,
    );
  }

  #status(
    policy: CostPolicy,
    computed: ReturnType<typeof computeBudgets>,
    health: Health,
    mismatches: readonly string[],
    now: number,
  ): CostPolicyStatus {
    const generation = policy.metadata.generation ?? 1;
    const exceeded = computed.figures.filter((f) => f.exceeded.length > 0);
    const warned = computed.budgets.filter((b) => (b.thresholdsReached ?? []).length > 0);
    const list = (xs: readonly string[]): string =>
      xs.length > 10 ? `${xs.slice(0, 10).join(', ')} and ${xs.length - 10} more` : xs.join(', ');
    const updates: ConditionUpdate[] = [
      {
        type: 'Ready',
        status: 'True',
        reason: 'Collecting',
        message: 'ledgers are collected and counted',
      },
      exceeded.length > 0
        ? {
            type: 'BudgetExceeded',
            status: 'True',
            reason: 'LimitReached',
            message: `exceeded: ${list(exceeded.map((f) => `${f.budget.name} (${list(f.exceeded)})`))}`,
          }
        : {
            type: 'BudgetExceeded',
            status: 'False',
            reason: 'WithinLimits',
            message: 'no budget is exceeded',
          },
      warned.length > 0
        ? {
            type: 'BudgetWarning',
            status: 'True',
            reason: 'ThresholdReached',
            message: `thresholds reached: ${list(warned.map((b) => `${b.name} ${(b.thresholdsReached ?? []).join('/')}%`))}`,
          }
        : {
            type: 'BudgetWarning',
            status: 'False',
            reason: 'BelowThresholds',
            message: 'no threshold is reached',
          },
      health.refused.length > 0 || mismatches.length > 0
        ? {
            type: 'LedgerVerified',
            status: 'False',
            reason: 'ChainVerificationFailed',
            message: `entries refused: ${list([...health.refused.map((r) => `${r.node}: ${r.failure.reason} at seq ${r.failure.seq}`), ...mismatches])}`,
          }
        : {
            type: 'LedgerVerified',
            status: 'True',
            reason: 'ChainsVerified',
            message: 'every collected ledger chain verified',
          },
      health.unreachable.length > 0
        ? {
            type: 'AgentsReachable',
            status: 'False',
            reason: 'AgentsUnreachable',
            message: `unreachable: ${list(health.unreachable)}`,
          }
        : {
            type: 'AgentsReachable',
            status: 'True',
            reason: 'AllAgentsAnswered',
            message: 'every discovered agent answered',
          },
    ];
    let conditions: Condition[] = (policy.status?.conditions ?? []) as Condition[];
    // Touched only around an outage, so quiet rounds keep the record of the last one.
    if (health.outage !== undefined)
      updates.push({
        type: 'ApiserverReachable',
        status: 'True',
        reason: 'RecoveredFromOutage',
        message: outageNote(health.outage),
      });
    else if (!conditions.some((c) => c.type === 'ApiserverReachable'))
      updates.push({
        type: 'ApiserverReachable',
        status: 'True',
        reason: 'Reachable',
        message: 'no apiserver outage seen by this operator',
      });
    for (const u of updates) conditions = setCondition(conditions, u, generation, new Date(now));
    return {
      observedGeneration: generation,
      conditions,
      ...(computed.topBudgetUtilization
        ? { topBudgetUtilization: computed.topBudgetUtilization }
        : {}),
      budgets: computed.budgets,
    };
  }

  async #writeConditions(policy: CostPolicy, updates: ConditionUpdate[]): Promise<void> {
    let conditions = (policy.status?.conditions ?? []) as Condition[];
    for (const u of updates)
      conditions = setCondition(
        conditions,
        u,
        policy.metadata.generation ?? 1,
        this.#o.clock.date(),
      );
    await this.#o.custom.patchClusterCustomObjectStatus(
      {
        group,
        version,
        plural,
        name: policy.metadata.name ?? '',
        body: { status: { conditions } },
      },
      mergePatchOptions(),
    );
  }

  /** Creates the CostReports of closed periods; AlreadyExists with equal content is success. */
  async #writeReports(policy: CostPolicy, closing: readonly ClosedPeriod[]): Promise<number> {
    const { custom, events, metrics } = this.#o;
    const name = policy.metadata.name ?? '';
    let created = 0;
    for (const closed of closing) {
      const timeZone = closed.spec.slice(closed.spec.indexOf('/') + 1);
      const budgets = closed.budgets.length > 0 ? closed.budgets : [undefined];
      const written: string[] = [];
      for (const budget of budgets) {
        const reports = buildReports({
          policy: name,
          currency: policy.spec.currency,
          closed,
          timeZone,
          ...(budget ? { budget } : {}),
        });
        for (const report of reports) {
          const rname = report.metadata.name ?? '';
          try {
            await custom.createClusterCustomObject({
              group,
              version,
              plural: COST_REPORT_GVK.plural,
              body: report,
            });
            metrics.apiWrites.inc({ verb: 'create', resource: 'costreports' });
            created++;
            written.push(rname);
          } catch (err) {
            if (statusCodeOf(err) !== 409) throw err;
            const existing = (await custom.getClusterCustomObject({
              group,
              version,
              plural: COST_REPORT_GVK.plural,
              name: rname,
            })) as CostReport;
            if (JSON.stringify(existing.spec) !== JSON.stringify(report.spec)) {
              // Reports are immutable records; a different one under our name is surfaced, not overwritten.
              this.#log.error(
                { report: rname },
                'CostReport exists with different content; kept as is',
              );
              await events.record(policyRef(policy), {
                type: 'Warning',
                reason: 'CostReportConflict',
                action: 'CloseReport',
                note: `CostReport ${rname} already exists with different content; left unchanged`,
              });
            }
          }
        }
      }
      if (written.length > 0) {
        await events.record(policyRef(policy), {
          type: 'Normal',
          reason: 'PeriodClosed',
          action: 'CloseReport',
          note: `period ${rfc3339(closed.start)} – ${rfc3339(closed.end)} closed into CostReports ${written.join(', ')}`,
        });
      }
    }
    return created;
  }

  /** Tells each agent the lowest seq every policy has durably counted, so it may compact. */
  async #acknowledge(
    pulls: readonly AgentPull[],
    policies: readonly CostPolicy[],
    outcomes: readonly (PolicyOutcome | null)[],
  ): Promise<void> {
    if (policies.length === 0) return;
    const cursorsOf = policies.map(
      (p, i) =>
        new Map(
          (outcomes[i]?.cursors ?? storedCursors(p, this.#positions)).map((c) => [c.node, c]),
        ),
    );
    await mapLimit(pulls, this.#o.concurrency ?? 16, async (p) => {
      let min: bigint | undefined;
      for (const cursors of cursorsOf) {
        const c = cursors.get(p.agent.node);
        if (c === undefined) return; // some policy has counted nothing here yet
        min = min === undefined || c.seq < min ? c.seq : min;
      }
      if (min === undefined || min <= p.info.acked) return;
      try {
        await this.#o.agentApi.ack(p.agent, min);
      } catch (err) {
        this.#log.warn(
          { node: p.agent.node, err: (err as Error).message },
          'acknowledgement failed; retried next round',
        );
      }
    });
  }

  async #enforce(outcomes: readonly PolicyOutcome[], agents: readonly Agent[]): Promise<void> {
    const namespaces = new Map<string, string>();
    const sessions = new Map<string, string>();
    let sessionBudgets = false;
    for (const o of outcomes) {
      for (const f of o.figures) {
        if (f.budget.action !== 'Suspend') continue;
        const by = `${o.policy.metadata.name ?? ''}/${f.budget.name}`;
        const scope = f.budget.scope ?? 'Policy';
        if (scope === 'Session') sessionBudgets = true;
        for (const key of f.exceeded) {
          if (scope === 'Policy') for (const ns of o.namespaces) namespaces.set(ns, by);
          else if (scope === 'Namespace') namespaces.set(key, by);
          else sessions.set(key, by);
        }
      }
    }
    if (this.#o.enforcer) {
      try {
        await this.#o.enforcer.enforce(namespaces, sessions);
      } catch (err) {
        this.#log.error({ err: (err as Error).message }, 'enforcement failed; retried next round');
      }
    }
    if (sessionBudgets || this.#overBudgetSessions.size > 0)
      await this.#markSessions(new Set(sessions.keys()), agents);
  }

  /** Mirrors the over-budget sessions into every agent's session API. */
  async #markSessions(want: ReadonlySet<string>, agents: readonly Agent[]): Promise<void> {
    const api = this.#o.agentApi;
    await mapLimit(agents, this.#o.concurrency ?? 16, async (agent) => {
      try {
        const have = new Set(
          (await api.overBudgetSessions(agent)).map((s) => `${s.namespace}/${s.id}`),
        );
        for (const key of want) {
          if (have.has(key)) continue;
          const i = key.indexOf('/');
          await api.setSessionOverBudget(agent, key.slice(0, i), key.slice(i + 1), true);
        }
        for (const key of have) {
          if (want.has(key)) continue;
          const i = key.indexOf('/');
          await api.setSessionOverBudget(agent, key.slice(0, i), key.slice(i + 1), false);
        }
      } catch (err) {
        this.#log.warn(
          { node: agent.node, err: (err as Error).message },
          'session budget marks not updated',
        );
      }
    });
    this.#overBudgetSessions = new Set(want);
  }
}

interface Outage {
  readonly since: number;
  readonly until: number;
  readonly failedRounds: number;
}

interface Health {
  readonly unreachable: readonly string[];
  readonly refused: readonly { node: string; failure: ChainFailure }[];
  readonly outage?: Outage;
}

function outageNote(o: Outage): string {
  return `apiserver was unreachable from ${rfc3339(o.since)} to ${rfc3339(o.until)} (${o.failedRounds} rounds failed); collection resumed from the stored cursors, nothing was lost`;
}
