// Budget status from the store's answers: pure, and bounded whatever the number of sessions.
// Per budget the status holds the scope key nearest its limit (the costliest, since a budget has
// one amount for every key), the top STATUS_TOP_SCOPES keys, the count of keys and of keys that
// reached the amount, what remains and the forecast; the conditions name one key per budget and
// count the rest. A million sessions cost the status what ten do.
import { parseMoney } from '@agentmeter/crds';
import type { Budget, BudgetStatus } from '@agentmeter/crds';
import type { ConditionUpdate } from '../runtime/index.ts';
import type { BudgetSummary } from '../store/accounting.ts';
import { budgetStatus } from './compute.ts';
import type { BudgetFigures } from './compute.ts';

export const STATUS_TOP_SCOPES = 10;

export interface StoredBudget {
  readonly budget: Budget;
  /** The current period, ms since the epoch. */
  readonly start: number;
  readonly end: number;
  /** From AccountingStore.budgetSummary with the budget's amount and STATUS_TOP_SCOPES. */
  readonly summary: BudgetSummary;
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
    exceeded: sorted.filter(([, nano]) => nano >= amountNano).map(([key]) => key),
    sorted,
  };
}

export function storedBudgetStatus(b: StoredBudget, nowMs: number): BudgetStatus {
  return {
    ...budgetStatus(storedBudgetFigures(b), nowMs),
    scopeKeys: b.summary.count,
    scopeKeysExceeded: b.summary.reachedLimit,
  };
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
