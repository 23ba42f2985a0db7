// Status from accumulator state: pure, so the reconcile compares it with what is stored and
// writes only on change, and threshold crossings are a set difference of two statuses.
import { formatMoney, parseMoney } from '@agentmeter/crds';
import type { Budget, BudgetStatus, CostPolicySpec, ScopeSpend } from '@agentmeter/crds';
import { WEEK_HOURS, hourOf } from '../anomaly/hourly-series.ts';
import type { HourlySeries } from '../anomaly/hourly-series.ts';
import { periodAt, rfc3339 } from '../budgets/periods.ts';
import type { PolicyState } from '../budgets/state.ts';
import { forecastPeriodEnd } from '../forecast/period-end.ts';

export const MAX_TOP_SCOPES = 20;

export interface BudgetFigures {
  readonly budget: Budget;
  readonly amountNano: bigint;
  readonly start: number;
  readonly end: number;
  readonly totalNano: bigint;
  /** The scope key nearest to the limit and its spend. */
  readonly maxKey: string | undefined;
  readonly maxNano: bigint;
  /** Scope keys whose spend reached the amount. */
  readonly exceeded: readonly string[];
  readonly sorted: readonly [string, bigint][];
}

function byKey(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function budgetFigures(budget: Budget, state: PolicyState, nowMs: number): BudgetFigures {
  const amountNano = parseMoney(budget.amount);
  const accum = state.budgets.get(budget.name);
  const period = accum ?? periodAt(nowMs, budget.period, budget.timeZone);
  const entries = [...(accum?.sums ?? new Map<string, bigint>())];
  const sorted = entries.sort((a, b) => (a[1] === b[1] ? byKey(a[0], b[0]) : a[1] > b[1] ? -1 : 1));
  const top = sorted[0];
  return {
    budget,
    amountNano,
    start: period.start,
    end: period.end,
    totalNano: entries.reduce((sum, [, v]) => sum + v, 0n),
    maxKey: top?.[0],
    maxNano: top?.[1] ?? 0n,
    exceeded: sorted.filter(([, v]) => v >= amountNano).map(([k]) => k),
    sorted,
  };
}

/**
 * Hourly spend of a budget's scope key over epoch hours [fromHour, toHour], from wherever the
 * operator keeps hourly rollups; undefined when it keeps none for that key.
 */
export type SpendHistory = (
  budget: string,
  key: string,
  fromHour: number,
  toHour: number,
) => HourlySeries | undefined;

/** History the forecaster reads: its four weeks of rhythm plus the level's two weeks. */
export const FORECAST_HISTORY_HOURS = 6 * WEEK_HOURS;

function forecastOf(f: BudgetFigures, nowMs: number, history: SpendHistory | undefined) {
  const nowHour = hourOf(nowMs);
  const series =
    f.maxKey === undefined
      ? undefined
      : history?.(f.budget.name, f.maxKey, nowHour - FORECAST_HISTORY_HOURS, nowHour);
  return forecastPeriodEnd({
    series: series ?? { firstHour: nowHour, nano: [] },
    spentNano: f.maxNano,
    periodStartMs: f.start,
    periodEndMs: f.end,
    nowMs,
  });
}

export function utilizationPercent(spentNano: bigint, amountNano: bigint): number {
  return Number((spentNano * 100n) / amountNano);
}

/**
 * The status of one budget. The forecast follows the weekly rhythm and recent level when
 * `history` has the key's hourly spend, and is the linear projection from the period start
 * (without bounds) when it has not.
 */
export function budgetStatus(
  f: BudgetFigures,
  nowMs: number,
  history?: SpendHistory,
): BudgetStatus {
  const forecast = forecastOf(f, nowMs, history);
  const utilization = utilizationPercent(f.maxNano, f.amountNano);
  const reached = (f.budget.thresholds ?? [])
    .filter((t) => f.maxNano * 100n >= BigInt(t) * f.amountNano)
    .sort((a, b) => a - b);
  const remaining = f.amountNano > f.maxNano ? f.amountNano - f.maxNano : 0n;
  const topScopes: ScopeSpend[] = f.sorted
    .slice(0, MAX_TOP_SCOPES)
    .map(([key, nano]) => ({ key, spent: formatMoney(nano) }));
  return {
    name: f.budget.name,
    periodStart: rfc3339(f.start),
    periodEnd: rfc3339(f.end),
    spent: formatMoney(f.totalNano),
    remaining: formatMoney(remaining),
    forecast: formatMoney(forecast.pointNano),
    ...(forecast.lowNano === undefined ? {} : { forecastLow: formatMoney(forecast.lowNano) }),
    ...(forecast.highNano === undefined ? {} : { forecastHigh: formatMoney(forecast.highNano) }),
    utilizationPercent: utilization,
    thresholdsReached: [...new Set(reached)],
    topScopes,
  };
}

export interface ComputedBudgets {
  readonly figures: BudgetFigures[];
  readonly budgets: BudgetStatus[];
  readonly topBudgetUtilization: string | undefined;
}

export function computeBudgets(
  spec: CostPolicySpec,
  state: PolicyState,
  nowMs: number,
  history?: SpendHistory,
): ComputedBudgets {
  const figures = (spec.budgets ?? []).map((b) => budgetFigures(b, state, nowMs));
  const budgets = figures.map((f) => budgetStatus(f, nowMs, history));
  const top = budgets.reduce((m, b) => Math.max(m, b.utilizationPercent ?? 0), -1);
  return { figures, budgets, topBudgetUtilization: top < 0 ? undefined : `${top}%` };
}

export interface Crossing {
  readonly budget: string;
  readonly threshold: number;
  readonly periodStart: string;
}

/** Thresholds reached in `next` that `previous` had not reached in the same period. */
export function newCrossings(
  previous: readonly BudgetStatus[] | undefined,
  next: readonly BudgetStatus[],
): Crossing[] {
  const out: Crossing[] = [];
  for (const b of next) {
    const old = previous?.find((p) => p.name === b.name && p.periodStart === b.periodStart);
    const had = new Set(old?.thresholdsReached ?? []);
    for (const t of b.thresholdsReached ?? []) {
      if (!had.has(t)) out.push({ budget: b.name, threshold: t, periodStart: b.periodStart });
    }
  }
  return out;
}
