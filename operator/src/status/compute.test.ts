import { describe, expect, it } from 'vitest';
import type { Budget } from '@agentmeter/crds';
import { emptyState } from '../budgets/state.ts';
import { budgetFigures, budgetStatus, forecastNano, newCrossings } from './compute.ts';

const start = Date.parse('2026-05-01T00:00:00Z');
const end = Date.parse('2026-06-01T00:00:00Z');

function stateWith(name: string, sums: [string, bigint][]) {
  const s = emptyState();
  s.budgets.set(name, { spec: 'x', start, end, sums: new Map(sums) });
  return s;
}

describe('budget status', () => {
  const budget: Budget = {
    name: 'b',
    amount: '10',
    period: 'Monthly',
    scope: 'Namespace',
    thresholds: [50, 80, 100],
  };

  it('reports total spend, the nearest key, remaining, utilisation and thresholds', () => {
    const state = stateWith('b', [
      ['a', 8_500_000_000n],
      ['c', 1_000_000_000n],
    ]);
    const s = budgetStatus(budgetFigures(budget, state, start + 1000), start + 1000);
    expect(s.spent).toBe('9.5');
    expect(s.remaining).toBe('1.5');
    expect(s.utilizationPercent).toBe(85);
    expect(s.thresholdsReached).toEqual([50, 80]);
    expect(s.topScopes?.[0]).toEqual({ key: 'a', spent: '8.5' });
  });

  it('keeps at most 20 top scopes', () => {
    const state = stateWith(
      'b',
      Array.from({ length: 50 }, (_, i) => [`ns${i}`, BigInt(i)] as [string, bigint]),
    );
    expect(budgetStatus(budgetFigures(budget, state, start), start).topScopes).toHaveLength(20);
  });

  it('forecasts linearly in integers', () => {
    const half = start + (end - start) / 2;
    expect(forecastNano(3n, start, end, half)).toBe(6n);
    expect(forecastNano(5n, start, end, start)).toBe(5n);
    expect(forecastNano(1n, start, end, start + (end - start) / 3)).toBe(3n);
  });

  it('reports each crossing once per period', () => {
    const before = [
      { name: 'b', periodStart: 'p1', periodEnd: 'x', spent: '1', thresholdsReached: [50] },
    ];
    const after = [
      { name: 'b', periodStart: 'p1', periodEnd: 'x', spent: '1', thresholdsReached: [50, 80] },
    ];
    expect(newCrossings(before, after)).toEqual([
      { budget: 'b', threshold: 80, periodStart: 'p1' },
    ]);
    expect(newCrossings(after, after)).toEqual([]);
    const nextPeriod = [
      { ...after[0], periodStart: 'p2', thresholdsReached: [50] },
    ] as typeof after;
    expect(newCrossings(after, nextPeriod)).toEqual([
      { budget: 'b', threshold: 50, periodStart: 'p2' },
    ]);
  });
});
