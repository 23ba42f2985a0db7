import { describe, expect, it } from 'vitest';
import { enforcementEvent } from './apply.ts';
import { guardReason, reasonOf, type Action } from './plan.ts';

const job = { kind: 'Job', namespace: 'ns-1', name: 'agent-7', annotations: {} } as const;
const action = (type: Action['type'], reason: string): Action => ({
  type,
  workload: job,
  reason,
  patch: {},
});

describe('enforcement Events', () => {
  it('name the guard that suspended a session, and the budget otherwise', () => {
    expect(reasonOf(guardReason('p', 'loop'))).toEqual({
      kind: 'guard',
      policy: 'p',
      name: 'loop',
    });
    expect(reasonOf('p/daily')).toEqual({ kind: 'budget', policy: 'p', name: 'daily' });
    expect(enforcementEvent(action('suspend', guardReason('p', 'loop')))).toEqual({
      type: 'Warning',
      reason: 'GuardSuspended',
      action: 'Suspend',
      note: 'Job ns-1/agent-7 suspended: guard loop of policy p tripped on its session',
    });
    expect(enforcementEvent(action('restore', guardReason('p', 'loop')))).toMatchObject({
      type: 'Normal',
      reason: 'GuardRestored',
      note: 'Job ns-1/agent-7 restored: guard loop of policy p no longer holds its session',
    });
    expect(enforcementEvent(action('suspend', 'p/daily'))).toMatchObject({
      reason: 'BudgetSuspended',
      note: 'Job ns-1/agent-7 suspended: budget p/daily is exceeded',
    });
  });
});
