// Commits one policy's round to its status: accumulators and cursors in ONE /status merge patch
// guarded by resourceVersion, sent only when something owned changed. A 409 means someone (a
// previous leader, a spec update) wrote first: re-read, re-prepare from the stored cursors,
// re-pull and recompute, so nothing is ever added twice. Closed periods in the written state
// become CostReports on the next pass, before the status that drops them is written.
import type { Logger } from 'pino';
import { isConflict } from '@agentmeter/kube-client';
import type { CostPolicy, CostPolicyStatus, LedgerPosition, TrippedGuard } from '@agentmeter/crds';
import { mergePatchOptions, type EventRecorder } from '../runtime/index.ts';
import { rfc3339 } from '../budgets/periods.ts';
import { encodeCursors } from '../budgets/cursors.ts';
import { encodeState } from '../budgets/state.ts';
import type { HourlyBook } from '../anomaly/hourly-book.ts';
import { spendHistoryOf } from '../anomaly/history-view.ts';
import { lookbackMs } from '../guards/compile.ts';
import { guardEvent } from '../anomaly/findings.ts';
import type { GuardTrip } from '../guards/evaluate.ts';
import type { ActivityWindow } from '../guards/window.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { computeBudgets, newCrossings, type BudgetFigures } from '../status/compute.ts';
import { adoptStored, historyToStore, windowToStore } from './carried-state.ts';
import { guardRound, guardsField } from './guard-round.ts';
import { getPolicy, POLICY_API, policyRef, slim, type CustomApi } from './policies.ts';
import type { PolicyRun } from './policy-run.ts';
import { buildStatus, sameOwnedStatus, type Health } from './status-build.ts';

export const MAX_ATTEMPTS = 6;

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
  readonly events: Pick<EventRecorder, 'record'>;
  readonly metrics: Pick<OperatorMetrics, 'apiWrites' | 'setBudgets' | 'guardTrips'>;
  readonly logger: Logger;
  /** Readies a policy as read from the apiserver (writing its closed periods' reports). */
  readonly prepare: (policy: CostPolicy) => Promise<PolicyRun>;
  /** Pulls this round's ledgers again into a fresh run. */
  readonly repull: (run: PolicyRun) => Promise<void>;
  /** The policy's committed guard activity, kept across rounds. */
  readonly guardWindow: (policy: string) => ActivityWindow;
  /** Hourly spend the forecasts read, fed with what each write counts. */
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

/** The status to store for `run`: the round's conditions and budgets, guards, cursors and
 * state. */
function nextStatus(run: PolicyRun, health: Health, window: ActivityWindow, book: HourlyBook) {
  const { policy, now } = run;
  const r = run.fold.finish();
  const previous = policy.status;
  // Only a round that counted something moves lastCollectionTime (and the budgets' as-of time).
  const lastCollection =
    r.counted > 0 || !previous?.lastCollectionTime ? rfc3339(now) : previous.lastCollectionTime;
  const asOf = Math.max(ms(lastCollection), now - 1) === now ? now : ms(lastCollection);
  const name = policy.metadata.name ?? '';
  const history = spendHistoryOf(book, name, policy.spec.budgets ?? []);
  const computed = computeBudgets(policy.spec, r.state, asOf, history);
  const mismatches = r.mismatches.map((m) => `${m.node}: ${m.detail}`);
  const guards = guardRound({
    policy,
    guards: run.guards,
    window,
    pending: r.activity,
    budgets: computed.budgets,
    nowMs: now,
  });
  const spendHistory = historyToStore(name, book, r, now);
  const status: CostPolicyStatus = {
    ...buildStatus(policy, computed, health, mismatches, now),
    ...guardsField(policy, run.guards, {
      ...guards.status,
      window: windowToStore(run.guards, window, r, now),
    }),
    lastCollectionTime: lastCollection,
    collection: { cursors: encodeCursors(r.cursors) },
    accumulatorState: encodeState(r.state),
    ...(spendHistory === undefined ? {} : { spendHistory }),
  };
  return { r, computed, status, fresh: guards.fresh };
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
  let run = first;
  let writes = 0;
  let reports = 0;
  const name = run.policy.metadata.name ?? '';
  const window = deps.guardWindow(name);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    let { policy } = run;
    try {
      adoptStored(logger, policy, window, deps.history, run.now);
      const previous = policy.status;
      const { r, computed, status, fresh } = nextStatus(run, health, window, deps.history);
      if (!sameOwnedStatus(status, previous)) {
        const body = { metadata: { resourceVersion: policy.metadata.resourceVersion }, status };
        policy = slim(
          (await custom.patchClusterCustomObjectStatus(
            { ...POLICY_API, name, body },
            mergePatchOptions(),
          )) as CostPolicy,
        );
        writes++;
        metrics.apiWrites.inc({ verb: 'patch', resource: 'costpolicies/status' });
        // Counted now: the next rounds judge this activity from the window.
        window.commit(r.activity);
        window.stored = status.guards?.window;
        deps.history.add(name, r.hourly, run.now);
        deps.history.markStored(name, status.spendHistory);
        await recordCrossings(deps.events, policy, previous, status);
        await recordTrips(deps, policy, fresh);
        if (r.state.closing.length > 0) {
          // Write its reports, then drop it: everything pulled is behind the new cursors.
          run = await deps.prepare(policy);
          reports += run.reports;
          continue;
        }
      }
      window.prune(run.now - 2 * lookbackMs(run.guards));
      metrics.setBudgets(name, policy.spec.currency, computed.figures);
      const namespaces = [...r.state.reports.values()].flatMap((x) => [...x.namespaces.keys()]);
      return {
        outcome: {
          cursors: r.cursors,
          figures: computed.figures,
          policy,
          namespaces,
          tripped: status.guards?.tripped ?? [],
        },
        writes,
        reports,
      };
    } catch (err) {
      if (!isConflict(err)) throw err;
      logger.info({ policy: name, attempt }, 'status conflict; recomputing from the stored state');
      run = await deps.prepare(await getPolicy(custom, name));
      reports += run.reports;
      await deps.repull(run);
    }
  }
  throw new ReconcileError(
    `policy ${name}: status still conflicting after ${MAX_ATTEMPTS} attempts`,
  );
}
