import { describe, expect, it } from 'vitest';
import type { Budget } from '@agentmeter/crds';
import type { BudgetFigures } from '../status/compute.ts';
import { suspensions } from './enforcement.ts';
import type { PolicyOutcome } from './status-commit.ts';
import { costPolicy } from './test-support.ts';

function outcome(name: string, budgets: [Budget, string[]][], namespaces: string[]): PolicyOutcome {
  const figures = budgets.map(
    ([budget, exceeded]) => ({ budget, exceeded }) as unknown as BudgetFigures,
  );
  return { policy: costPolicy(name), figures, namespaces, cursors: [] };
}

const budget = (name: string, scope: Budget['scope'], action: Budget['action']): Budget => ({
  name,
  amount: '1',
  period: 'Monthly',
  ...(scope ? { scope } : {}),
  ...(action ? { action } : {}),
});

describe('suspensions', () => {
  it('suspends by scope: every namespace of the policy, one namespace, one session', () => {
    const s = suspensions([
      outcome('p', [[budget('all', undefined, 'Suspend'), ['*']]], ['ns-1', 'ns-2']),
      outcome('q', [[budget('per-ns', 'Namespace', 'Suspend'), ['ns-3']]], ['ns-3']),
      outcome('r', [[budget('per-s', 'Session', 'Suspend'), ['ns-4/s1']]], ['ns-4']),
    ]);
    expect([...s.namespaces]).toEqual([
      ['ns-1', 'p/all'],
      ['ns-2', 'p/all'],
      ['ns-3', 'q/per-ns'],
    ]);
    expect([...s.sessions]).toEqual([['ns-4/s1', 'r/per-s']]);
    expect(s.sessionBudgets).toBe(true);
  });

  it('ignores budgets that only notify, and notes Session budgets with nothing exceeded', () => {
    const s = suspensions([
      outcome('p', [[budget('warn', 'Namespace', 'Notify'), ['ns-1']]], ['ns-1']),
      outcome('q', [[budget('per-s', 'Session', 'Suspend'), []]], []),
    ]);
    expect(s.namespaces.size + s.sessions.size).toBe(0);
    expect(s.sessionBudgets).toBe(true);
  });
});
