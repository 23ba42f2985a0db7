// The period a guard mark lasts: the shortest budget period open now (a mark clears when that
// period ends), or the UTC day when the policy has no budgets.
import type { BudgetStatus } from '@agentmeter/crds';
import { periodAt, type Period } from '../budgets/periods.ts';

export function guardPeriod(budgets: readonly BudgetStatus[], nowMs: number): Period {
  let best: Period | undefined;
  for (const b of budgets) {
    const p = { start: Date.parse(b.periodStart), end: Date.parse(b.periodEnd) };
    if (p.end > nowMs && (best === undefined || p.end < best.end)) best = p;
  }
  return best ?? periodAt(nowMs, 'Daily');
}
