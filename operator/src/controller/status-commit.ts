// Commits one policy's round: first to the store, where the cursor moves, the sums they produced,
// the session totals, rollups and the fold's state go in ONE transaction (exactly once: a cursor
// that moved meanwhile refuses the whole round, which is then prepared again from the store and
// pulled again); then a bounded status built from what the store holds, in one /status merge
// patch guarded by resourceVersion and sent only when something owned changed; the guard window
// and the hourly spend history the round's commits joined go into that patch (carried-state.ts),
// and each round first takes the status's copy of them if memory differs. A status conflict
// re-reads the policy and rebuilds the status: nothing is counted again. Closed periods in the
// committed state become CostReports on the next pass, before the state that drops them commits.
import type { Logger } from 'pino';
import { isConflict } from '@agentmeter/kube-client';
import { parseMoney } from '@agentmeter/crds';
import type { CostPolicy, CostPolicyStatus, LedgerPosition, TrippedGuard } from '@agentmeter/crds';
import { mergePatchOptions, type ConditionUpdate, type EventRecorder } from '../runtime/index.ts';
import { periodAt, rfc3339 } from '../budgets/periods.ts';
import type { ReduceResult } from '../budgets/accumulate.ts';
import { encodeCursors } from '../budgets/cursors.ts';
import { encodeState } from '../budgets/state.ts';
import type { HourlyBook } from '../anomaly/hourly-book.ts';
import { spendHistoryOf } from '../anomaly/history-view.ts';
import { lookbackMs } from '../guards/compile.ts';
import { guardEvent } from '../anomaly/findings.ts';
import type { GuardTrip } from '../guards/evaluate.ts';
import type { ActivityWindow } from '../guards/window.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { newCrossings, type BudgetFigures } from '../status/compute.ts';
import { STATUS_TOP_SCOPES, storedBudgets } from '../status/from-store.ts';
import { CursorConflictError, type AccountingStore } from '../store/accounting.ts';
import {
  budgetDeltas,
  budgetResets,
  cursorMoves,
  periodSessionRows,
  withoutSums,
} from '../store/round.ts';
import { adoptStored, historyToStore, windowToStore } from './carried-state.ts';
import { guardRound, guardsField } from './guard-round.ts';
import { getPolicy, POLICY_API, policyRef, slim, type CustomApi } from './policies.ts';
import type { PolicyRun, Rebuild } from './policy-run.ts';
import { buildStatus, list, sameOwnedStatus, type Health } from './status-build.ts';

export const MAX_ATTEMPTS = 6;
/** Keys over a Suspend budget's amount acted on per round; the rest wait for a later round. */
export const SUSPEND_KEYS = 10_000;
const MS = 1_000_000n;

export class ReconcileError extends Error {
  override readonly name = 'ReconcileError';
}

export interface PolicyOutcome {
  readonly cursors: readonly LedgerPosition[];
  readonly figures: readonly BudgetFigures[];
  readonly policy: CostPolicy;
  readonly namespaces: readonly string[];
  /** Sessions the policy's guards hold tripped. */
  readonly tripped: readonly TrippedGuard[];
}

export interface CommitDeps {
  readonly custom: CustomApi;
  readonly store: AccountingStore;
  readonly events: Pick<EventRecorder, 'record'>;
  readonly metrics: Pick<OperatorMetrics, 'apiWrites' | 'setBudgets' | 'guardTrips'>;
  readonly logger: Logger;
  /** Readies a policy from the store (writing its closed periods' reports). */
  readonly prepare: (policy: CostPolicy) => Promise<PolicyRun>;
  /** Pulls this round's ledgers again into a fresh run. */
  readonly repull: (run: PolicyRun) => Promise<void>;
  /** The policy's committed guard activity, kept across rounds. */
  readonly guardWindow: (policy: string) => ActivityWindow;
  /** Hourly spend the forecasts read, fed with what each commit counts. */
  readonly history: HourlyBook;
}

export interface CommitResult {
  readonly outcome: PolicyOutcome;
  readonly writes: number;
  readonly reports: number;
}

function ms(timestamp: string | undefined): number {
  return timestamp === undefined ? 0 : Date.parse(timestamp);
}

interface Counted {
  readonly run: PolicyRun;
  /** The rebuild this round committed, when the store had lost the policy. */
  readonly rebuild: Rebuild | undefined;
  readonly r: ReduceResult;
  /** Whether any commit of this round counted an entry. */
  readonly counted: boolean;
  readonly reports: number;
}

/** Commits the run to the store, preparing and pulling again after a cursor conflict, and
 * once more after a commit that closed a period (its reports are written, then it is dropped). */
async function commitToStore(deps: CommitDeps, first: PolicyRun): Promise<Counted> {
  let run = first;
  let reports = 0;
  let counted = false;
  let rebuild: Rebuild | undefined;
  const name = run.policy.metadata.name ?? '';
  const window = deps.guardWindow(name);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    // Before this round's activity joins them: a window and book that are not what the status
    // holds (a restart, a failover, another leader's write) are replaced by the status's copy.
    adoptStored(deps.logger, run.policy, window, deps.history, run.now);
    const r = run.fold.finish();
    const moves = cursorMoves(run.from, r.cursors);
    const deltas = budgetDeltas(run.committed, r.state);
    const state = encodeState(withoutSums(r.state));
    if (moves.length > 0 || deltas.length > 0 || state !== run.stateText) {
      const round = run.recorder.commit(name, BigInt(run.now) * MS, deltas, moves, {
        state,
        countFromMs: run.countFromMs,
        uid: run.policy.metadata.uid ?? '',
        resets: budgetResets(run.committed, r.state),
        periodSessions: periodSessionRows(r.periodSessions),
      });
      try {
        await deps.store.commit(round);
      } catch (err) {
        if (!(err instanceof CursorConflictError)) throw err;
        deps.logger.info({ policy: name, attempt }, 'store cursor conflict; counting again');
        run = await deps.prepare(await getPolicy(deps.custom, name));
        reports += run.reports;
        await deps.repull(run);
        continue;
      }
      // Counted now: the next rounds judge this activity from the window.
      window.commit(r.activity);
      deps.history.add(name, r.hourly, run.now);
      counted ||= r.counted > 0;
      rebuild ??= run.rebuild;
    }
    if (r.state.closing.length === 0) return { run, r, counted, rebuild, reports };
    run = await deps.prepare(run.policy);
    reports += run.reports;
  }
  throw new ReconcileError(
    `policy ${name}: store cursors still conflicting after ${MAX_ATTEMPTS} attempts`,
  );
}

/** The status to store for what the store holds now: conditions, budgets from its sums,
 * guards, and its cursors. */
async function nextStatus(
  deps: CommitDeps,
  c: Counted,
  policy: CostPolicy,
  health: Health,
  window: ActivityWindow,
) {
  const { run, r } = c;
  const { now } = run;
  const previous = policy.status;
  // Only a round that counted something moves lastCollectionTime (and the budgets' as-of time).
  const lastCollection =
    c.counted || !previous?.lastCollectionTime ? rfc3339(now) : previous.lastCollectionTime;
  const asOf = Math.max(ms(lastCollection), now - 1) === now ? now : ms(lastCollection);
  const name = policy.metadata.name ?? '';
  const budgets = (policy.spec.budgets ?? []).map((budget) => {
    const period =
      r.state.budgets.get(budget.name) ?? periodAt(now, budget.period, budget.timeZone);
    return { budget, start: period.start, end: period.end };
  });
  const snapshot = await deps.store.snapshot(
    name,
    budgets.map((b) => ({
      budget: b.budget.name,
      periodStartNs: BigInt(b.start) * MS,
      limitNano: parseMoney(b.budget.amount),
      listReached: b.budget.action === 'Suspend' ? SUSPEND_KEYS : 0,
    })),
    STATUS_TOP_SCOPES,
  );
  const history = spendHistoryOf(deps.history, name, policy.spec.budgets ?? []);
  const computed = storedBudgets(
    budgets.map((b, i) => {
      const summary = snapshot.budgets[i];
      if (summary === undefined)
        throw new ReconcileError(`policy ${name}: no summary of ${b.budget.name}`);
      return {
        ...b,
        summary,
        ...(b.budget.action === 'Suspend' ? { reached: summary.reached } : {}),
      };
    }),
    asOf,
    history,
  );
  const mismatches = r.mismatches.map((m) => `${m.node}: ${m.detail}`);
  // The round's activity is in the window already (committed with its entries).
  const guards = guardRound({
    policy,
    guards: run.guards,
    window,
    pending: [],
    budgets: computed.budgets,
    nowMs: now,
  });
  const cursors = [...snapshot.cursors].map(([node, p]) => ({ node, ...p }));
  const spendHistory = historyToStore(name, deps.history, c.counted, now);
  const status: CostPolicyStatus = {
    ...buildStatus(
      policy,
      computed,
      health,
      mismatches,
      now,
      c.rebuild ? [rebuilt(c.rebuild)] : [],
    ),
    ...guardsField(policy, run.guards, {
      ...guards.status,
      window: windowToStore(run.guards, window, c.counted, now),
    }),
    lastCollectionTime: lastCollection,
    collection: { cursors: encodeCursors(cursors) },
    ...(spendHistory === undefined ? {} : { spendHistory }),
  };
  return { computed, status, cursors, fresh: guards.fresh };
}

/** The StoreRebuilt condition: the store was found empty and refilled from the ledgers. */
function rebuilt(r: Rebuild): ConditionUpdate {
  const from = `the store held nothing of this policy; rebuilt from the agents' ledgers, counting entries measured from ${rfc3339(r.countFromMs)} (earlier periods are in their CostReports)`;
  return r.notRebuilt.length === 0
    ? {
        type: 'StoreRebuilt',
        status: 'True',
        reason: 'Complete',
        message: `${from}; nothing is missing`,
      }
    : {
        type: 'StoreRebuilt',
        status: 'True',
        reason: 'Incomplete',
        message: `${from}; not rebuilt: ${list(r.notRebuilt)}`,
      };
}

/** Names each newly tripped guard in an Event on the policy. */
async function recordTrips(
  deps: Pick<CommitDeps, 'events' | 'metrics'>,
  policy: CostPolicy,
  fresh: readonly GuardTrip[],
): Promise<void> {
  for (const t of fresh) {
    deps.metrics.guardTrips.inc({ policy: policy.metadata.name ?? '', guard: t.guard });
    await deps.events.record(policyRef(policy), guardEvent(t, policy.spec.currency));
  }
}

/** Records a budget-threshold Event for each threshold newly crossed by a write. */
async function recordCrossings(
  events: Pick<EventRecorder, 'record'>,
  policy: CostPolicy,
  previous: CostPolicyStatus | undefined,
  next: CostPolicyStatus,
): Promise<void> {
  for (const c of newCrossings(previous?.budgets, next.budgets ?? [])) {
    const b = next.budgets?.find((x) => x.name === c.budget);
    const amount = policy.spec.budgets?.find((x) => x.name === c.budget)?.amount ?? '?';
    await events.record(policyRef(policy), {
      type: c.threshold >= 100 ? 'Warning' : 'Normal',
      reason: c.threshold >= 100 ? 'BudgetExceeded' : 'BudgetThresholdReached',
      action: 'Notify',
      note: `budget ${c.budget} reached ${c.threshold}% in the period from ${c.periodStart}: spent ${b?.spent ?? '?'} of ${amount} ${policy.spec.currency} (top scope ${b?.topScopes?.[0]?.key ?? '*'})`,
    });
  }
}

export async function commitStatus(
  deps: CommitDeps,
  first: PolicyRun,
  health: Health,
): Promise<CommitResult> {
  const { custom, metrics, logger } = deps;
  const counted = await commitToStore(deps, first);
  const { run, r } = counted;
  if (counted.rebuild !== undefined) {
    const c = rebuilt(counted.rebuild);
    deps.logger.warn({ policy: run.policy.metadata.name, reason: c.reason }, c.message);
    await deps.events.record(policyRef(run.policy), {
      type: 'Warning',
      reason: 'StoreRebuilt',
      action: 'Collect',
      note: c.message,
    });
  }
  let writes = 0;
  let { policy } = run;
  const name = policy.metadata.name ?? '';
  const window = deps.guardWindow(name);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    try {
      const previous = policy.status;
      const { computed, status, cursors, fresh } = await nextStatus(
        deps,
        counted,
        policy,
        health,
        window,
      );
      if (!sameOwnedStatus(status, previous)) {
        // A full replacement of the owned fields: the accumulator state the status held before
        // the store is dropped.
        const body = {
          metadata: { resourceVersion: policy.metadata.resourceVersion },
          status: { ...status, accumulatorState: null },
        };
        policy = slim(
          (await custom.patchClusterCustomObjectStatus(
            { ...POLICY_API, name, body },
            mergePatchOptions(),
          )) as CostPolicy,
        );
        writes++;
        metrics.apiWrites.inc({ verb: 'patch', resource: 'costpolicies/status' });
        // The window and book as this status stores them: an operator whose memory differs
        // from the status (a restart, a failover) takes the status's copy.
        window.stored = status.guards?.window;
        deps.history.markStored(name, status.spendHistory);
        await recordCrossings(deps.events, policy, previous, status);
        await recordTrips(deps, policy, fresh);
      }
      window.prune(run.now - 2 * lookbackMs(run.guards));
      metrics.setBudgets(name, policy.spec.currency, computed.figures);
      const namespaces = [...r.state.reports.values()].flatMap((x) => [...x.namespaces.keys()]);
      return {
        outcome: {
          cursors,
          figures: computed.figures,
          policy,
          namespaces,
          tripped: status.guards?.tripped ?? [],
        },
        writes,
        reports: counted.reports,
      };
    } catch (err) {
      if (!isConflict(err)) throw err;
      logger.info({ policy: name, attempt }, 'status conflict; rebuilding it from the store');
      policy = await getPolicy(custom, name);
    }
  }
  throw new ReconcileError(
    `policy ${name}: status still conflicting after ${MAX_ATTEMPTS} attempts`,
  );
}
