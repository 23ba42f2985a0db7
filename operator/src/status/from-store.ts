// Budget status from the store's answers: pure, and bounded whatever the number of sessions.
// Per budget the status holds the scope key nearest its limit (the costliest, since a budget has
// one amount for every key), the top STATUS_TOP_SCOPES keys, the count of keys and of keys that
// reached the amount, what remains and the forecast; the conditions name one key per budget and
// count the rest. A million sessions cost the status what ten do.
import { parseMoney } from '@agentmeter/crds';
import type { Budget, BudgetStatus } from '@agentmeter/crds';
import type { ConditionUpdate } from '../runtime/index.ts';
import type { BudgetSummary, Ranked } from '../store/accounting.ts';
import { budgetStatus } from './compute.ts';
import type { BudgetFigures, ComputedBudgets, SpendHistory } from './compute.ts';

export const STATUS_TOP_SCOPES = 10;

export interface StoredBudget {
  readonly budget: Budget;
  /** The current period, ms since the epoch. */
  readonly start: number;
  readonly end: number;
  /** From AccountingStore.budgetSummary with the budget's amount and STATUS_TOP_SCOPES. */
  readonly summary: BudgetSummary;
  /** Every key at or over the amount that enforcement acts on (a Suspend budget's); when
   * absent, those among the top keys. */
  readonly reached?: readonly Ranked[];
}

export function storedBudgetFigures(b: StoredBudget): BudgetFigures {
  const amountNano = parseMoney(b.budget.amount);
  const sorted = b.summary.top
    .slice(0, STATUS_TOP_SCOPES)
    .map((r): [string, bigint] => [r.key, r.nano]);
  const [nearest] = sorted;
  return {
    budget: b.budget,
    amountNano,
    start: b.start,
    end: b.end,
    totalNano: b.summary.totalNano,
    maxKey: nearest?.[0],
    maxNano: nearest?.[1] ?? 0n,
    exceeded:
      b.reached?.map((r) => r.key) ??
      sorted.filter(([, nano]) => nano >= amountNano).map(([key]) => key),
    sorted,
  };
}

export function storedBudgetStatus(
  b: StoredBudget,
  nowMs: number,
  history?: SpendHistory,
): BudgetStatus {
  return {
    ...budgetStatus(storedBudgetFigures(b), nowMs, history),
    scopeKeys: b.summary.count,
    scopeKeysExceeded: b.summary.reachedLimit,
  };
}

/** Every budget's figures and status, as the reconcile's status and enforcement take them. */
export function storedBudgets(
  stored: readonly StoredBudget[],
  nowMs: number,
  history?: SpendHistory,
): ComputedBudgets {
  const figures = stored.map(storedBudgetFigures);
  const budgets = stored.map((b) => storedBudgetStatus(b, nowMs, history));
  const top = budgets.reduce((m, b) => Math.max(m, b.utilizationPercent ?? 0), -1);
  return { figures, budgets, topBudgetUtilization: top < 0 ? undefined : `${top}%` };
}

/** "ns/s1" or "ns/s1 and 1,234 more": one key named per budget, the rest counted. */
function named(nearest: string | undefined, total: number): string {
  const more = total - 1;
  return more > 0 ? `${nearest} and ${more.toLocaleString('en')} more` : `${nearest}`;
}

/** BudgetExceeded and BudgetWarning from the budgets' status, bounded in length. */
export function storedBudgetConditions(
  stored: readonly StoredBudget[],
  statuses: readonly BudgetStatus[],
): ConditionUpdate[] {
  const exceeded = stored
    .filter((b) => b.summary.reachedLimit > 0)
    .map((b) => ({ b, f: storedBudgetFigures(b) }));
  const warned = statuses.filter((s) => (s.thresholdsReached ?? []).length > 0);
  return [
    exceeded.length > 0
      ? {
          type: 'BudgetExceeded',
          status: 'True',
          reason: 'LimitReached',
          message: `exceeded: ${exceeded
            .map(({ b, f }) => `${b.budget.name} (${named(f.maxKey, b.summary.reachedLimit)})`)
            .join('; ')}`,
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
          message: `thresholds reached: ${warned
            .map((s) => `${s.name} ${(s.thresholdsReached ?? []).join('/')}%`)
            .join(', ')}`,
        }
      : {
          type: 'BudgetWarning',
          status: 'False',
          reason: 'BelowThresholds',
          message: 'no threshold is reached',
        },
  ];
}
