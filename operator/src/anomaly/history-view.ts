// A budget's view of the hourly history: its scope key as the stream the book keeps it under.
import type { Budget } from '@agentmeter/crds';
import type { SpendHistory } from '../status/compute.ts';
import type { SpendHistorySource } from './hourly-book.ts';

export function budgetStream(budget: Budget | undefined, key: string): string {
  switch (budget?.scope ?? 'Policy') {
    case 'Session':
      return `session:${key}`;
    case 'Namespace':
      return `namespace:${key}`;
    case 'Policy':
      return 'policy:*';
  }
}

export function spendHistoryOf(
  source: SpendHistorySource,
  policy: string,
  budgets: readonly Budget[],
): SpendHistory {
  return (budget, key, fromHour, toHour) =>
    source.series(
      policy,
      budgetStream(
        budgets.find((b) => b.name === budget),
        key,
      ),
      fromHour,
      toHour,
    );
}
