import type { Budget, BudgetStatus } from '@agentmeter/crds';
import { describe, expect, it } from 'vitest';
import type { BudgetSummary } from '../store/accounting.ts';
import { STATUS_TOP_SCOPES, storedBudgetConditions, storedBudgetStatus } from './from-store.ts';
import type { StoredBudget } from './from-store.ts';

const START = Date.UTC(2026, 10, 1);
const END = Date.UTC(2026, 11, 1);
const budget = (name: string, amount = '10'): Budget => ({
  name,
  amount,
  period: 'Monthly',
  scope: 'Session',
  thresholds: [50, 80, 100],
});
const NANO = 1_000_000_000n;

describe('budget status from the store', () => {
  it('takes the nearest key, the top keys, counts, remaining and forecast from the summary', () => {
    const summary: BudgetSummary = {
      count: 1_000_000,
      reachedLimit: 2,
      totalNano: 123_456n * NANO,
      top: [
        { key: 'a/s1', nano: 12n * NANO },
        { key: 'b/s2', nano: 10n * NANO },
        { key: 'c/s3', nano: 9n * NANO },
      ],
    };
    const half = START + (END - START) / 2;
    const status = storedBudgetStatus(
      { budget: budget('per-session'), start: START, end: END, summary },
      half,
    );
    expect(status).toMatchObject({
      name: 'per-session',
      spent: '123456',
      remaining: '0',
      forecast: '24',
      utilizationPercent: 120,
      thresholdsReached: [50, 80, 100],
      scopeKeys: 1_000_000,
      scopeKeysExceeded: 2,
      topScopes: [
        { key: 'a/s1', spent: '12' },
        { key: 'b/s2', spent: '10' },
        { key: 'c/s3', spent: '9' },
      ],
    });
    const below = storedBudgetStatus(
      {
        budget: budget('b', '20'),
        start: START,
        end: END,
        summary: { ...summary, reachedLimit: 0 },
      },
      half,
    );
    expect(below.remaining).toBe('8');
  });

  it('names a few exceeded keys and counts the rest', () => {
    const top = Array.from({ length: STATUS_TOP_SCOPES }, (_, i) => ({
      key: `ns/s${i}`,
      nano: 100n * NANO - BigInt(i),
    }));
    const stored: StoredBudget[] = [
      {
        budget: budget('hot'),
        start: START,
        end: END,
        summary: { count: 50_000, reachedLimit: 40_000, totalNano: 1n, top },
      },
      {
        budget: budget('cold', '1000'),
        start: START,
        end: END,
        summary: { count: 0, reachedLimit: 0, totalNano: 0n, top: [] },
      },
    ];
    const statuses = stored.map((b) => storedBudgetStatus(b, END));
    const [exceeded, warning] = storedBudgetConditions(stored, statuses);
    expect(exceeded).toMatchObject({ type: 'BudgetExceeded', status: 'True' });
    expect(exceeded?.message).toBe('exceeded: hot (ns/s0 and 39,999 more)');
    expect(warning).toMatchObject({
      type: 'BudgetWarning',
      status: 'True',
      message: 'thresholds reached: hot 50/80/100%',
    });
    expect(
      storedBudgetConditions([stored[1] as StoredBudget], [statuses[1] as BudgetStatus]).map(
        (c) => c.status,
      ),
    ).toEqual(['False', 'False']);
  });

  it('stays under 64 KiB with the most budgets and the longest keys, whatever the number of sessions', () => {
    // 16 budgets (the schema's maximum), every top key at the longest a Session scope key can be
    // (a 63-character namespace, '/', a 128-character session id), every sum at its largest,
    // ten thresholds each, every budget exceeded by a billion sessions.
    const stored: StoredBudget[] = Array.from({ length: 16 }, (_, b) => ({
      budget: {
        ...budget(`b${b}`.padEnd(63, 'x'), '0.000000001'),
        thresholds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
      },
      start: START,
      end: END,
      summary: {
        count: 1_000_000_000,
        reachedLimit: 1_000_000_000,
        totalNano: 2n ** 63n - 1n,
        top: Array.from({ length: 100 }, (_, i) => ({
          key: `${'n'.repeat(63)}/${`${i}`.padEnd(128, 's')}`,
          nano: 2n ** 63n - 1n - BigInt(i),
        })),
      },
    }));
    const budgets = stored.map((b) => storedBudgetStatus(b, START + 1));
    const conditions = storedBudgetConditions(stored, budgets);
    const bytes = Buffer.byteLength(JSON.stringify({ budgets, conditions }));
    expect(budgets.every((b) => b.topScopes?.length === STATUS_TOP_SCOPES)).toBe(true);
    expect(bytes).toBeLessThan(64 * 1024);
  });
});
