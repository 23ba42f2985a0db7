import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { OperatorMetrics, TOP_SESSION_RANKS } from './metrics.ts';
import type { BudgetFigures } from './status/compute.ts';

function sessionBudget(spends: bigint[]): BudgetFigures {
  const sorted = spends
    .map((nano, i) => [`agents/session-${i}`, nano] as [string, bigint])
    .sort((a, b) => (a[1] > b[1] ? -1 : a[1] < b[1] ? 1 : 0));
  return {
    budget: { name: 'per-session', amount: '100', period: 'Daily', scope: 'Session' },
    amountNano: 100_000_000_000n,
    start: 0,
    end: 86_400_000,
    totalNano: spends.reduce((a, b) => a + b, 0n),
    maxKey: sorted[0]?.[0],
    maxNano: sorted[0]?.[1] ?? 0n,
    exceeded: [],
    sorted,
  };
}

describe('OperatorMetrics Session-scope budgets', () => {
  it('exports the largest spends by rank and the session count, never a session id', async () => {
    const registry = new Registry();
    const metrics = new OperatorMetrics(registry);
    const spends = Array.from({ length: 12 }, (_, i) => BigInt(i + 1) * 1_500_000_000n);
    metrics.setBudgets('p', 'EUR', [sessionBudget(spends)]);

    const top = (await metrics.topSessionSpend.get()).values;
    expect(top).toHaveLength(TOP_SESSION_RANKS);
    expect(top.find((v) => v.labels.rank === '1')?.value).toBe(18);
    expect(top.find((v) => v.labels.rank === '10')?.value).toBe(4.5);
    expect((await metrics.sessions.get()).values).toEqual([
      { labels: { policy: 'p', budget: 'per-session' }, value: 12 },
    ]);
    expect(await registry.metrics()).not.toMatch(/session-\d/);

    metrics.forgetPolicy('p');
    expect((await metrics.topSessionSpend.get()).values).toEqual([]);
    expect((await metrics.sessions.get()).values).toEqual([]);
  });
});
