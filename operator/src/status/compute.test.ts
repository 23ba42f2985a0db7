import { describe, expect, it } from 'vitest';
import type { Budget } from '@agentmeter/crds';
import { emptyState } from '../budgets/state.ts';
import { HOUR_MS, WEEK_HOURS, hourOf } from '../anomaly/hourly-series.ts';
import { FORECAST_HISTORY_HOURS, budgetFigures, budgetStatus, newCrossings } from './compute.ts';
import type { SpendHistory } from './compute.ts';

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

  it('forecasts linearly, without bounds, when no hourly history is kept', () => {
    const half = start + (end - start) / 2;
    const state = stateWith('b', [['a', 3n]]);
    const s = budgetStatus(budgetFigures(budget, state, half), half);
    expect(s.forecast).toBe('0.000000006');
    expect(s).not.toHaveProperty('forecastLow');
    expect(s).not.toHaveProperty('forecastHigh');
  });

  it('forecasts the nearest key from its hourly history, with bounds', () => {
    // One unit every hour for six weeks: 10 days left of the month forecast 240 more units.
    const now = Date.parse('2026-05-22T00:00:00Z');
    const state = stateWith('b', [
      ['a', 500_000_000_000n],
      ['c', 1n],
    ]);
    const asked: unknown[] = [];
    const history: SpendHistory = (b, key, from, to) => {
      asked.push([b, key, from, to]);
      return { firstHour: from, nano: Array.from({ length: to - from + 1 }, () => 1_000_000_000n) };
    };
    const s = budgetStatus(budgetFigures(budget, state, now), now, history);
    expect(asked).toEqual([['b', 'a', hourOf(now) - FORECAST_HISTORY_HOURS, hourOf(now)]]);
    expect(end - now).toBe(10 * 24 * HOUR_MS);
    expect([s.forecastLow, s.forecast, s.forecastHigh]).toEqual(['740', '740', '740']);
    expect(FORECAST_HISTORY_HOURS).toBe(6 * WEEK_HOURS);
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
