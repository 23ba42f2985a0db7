import { describe, expect, it } from 'vitest';
import type { Budget, GuardAction } from '@agentmeter/crds';
import type { BudgetFigures } from '../status/compute.ts';
import { suspensions } from './enforcement.ts';
import type { PolicyOutcome } from './status-commit.ts';
import { costPolicy } from './test-support.ts';

function outcome(
  name: string,
  budgets: [Budget, string[]][],
  namespaces: string[],
  tripped: PolicyOutcome['tripped'] = [],
): PolicyOutcome {
  const figures = budgets.map(
    ([budget, exceeded]) => ({ budget, exceeded }) as unknown as BudgetFigures,
  );
  return { policy: costPolicy(name), figures, namespaces, cursors: [], tripped };
}

const trip = (guard: string, session: string, action: GuardAction) => ({
  guard,
  session,
  action,
  kind: 'callsPerMinute' as const,
  trippedAt: '2026-05-10T12:00:00Z',
  until: '2026-05-11T00:00:00Z',
  observed: '4',
  limit: '3',
});

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

  it('marks every tripped session, and suspends only those of a Suspend guard', () => {
    const s = suspensions([
      outcome('p', [[budget('per-s', 'Session', 'Suspend'), ['ns-1/a']]], ['ns-1']),
      outcome(
        'q',
        [],
        [],
        [trip('calls', 'ns-2/b', 'MarkOverBudget'), trip('loop', 'ns-3/c', 'Suspend')],
      ),
    ]);
    expect([...s.marks].sort()).toEqual(['ns-1/a', 'ns-2/b', 'ns-3/c']);
    expect([...s.sessions]).toEqual([
      ['ns-1/a', 'p/per-s'],
      ['ns-3/c', 'q/guard:loop'],
    ]);
  });
});
