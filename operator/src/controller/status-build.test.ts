import { describe, expect, it } from 'vitest';
import type { Budget } from '@agentmeter/crds';
import type { BudgetFigures, ComputedBudgets } from '../status/compute.ts';
import {
  buildStatus,
  outageNote,
  roundConditions,
  sameOwnedStatus,
  type Health,
} from './status-build.ts';
import { costPolicy } from './test-support.ts';

const NOW = Date.parse('2026-05-10T12:00:00Z');
const quiet: ComputedBudgets = { figures: [], budgets: [], topBudgetUtilization: undefined };
const healthy: Health = { unreachable: [], refused: [] };

function figures(name: string, exceeded: string[]): BudgetFigures {
  const budget: Budget = { name, amount: '10', period: 'Monthly' };
  return {
    budget,
    amountNano: 10n,
    start: 0,
    end: 1,
    totalNano: 0n,
    maxKey: undefined,
    maxNano: 0n,
    exceeded,
    sorted: [],
  };
}

const byType = (updates: ReturnType<typeof roundConditions>) =>
  Object.fromEntries(updates.map((u) => [u.type, `${u.status}/${u.reason}`]));

describe('roundConditions', () => {
  it('says all is well on a quiet round, and that no outage was seen', () => {
    expect(byType(roundConditions(quiet, healthy, [], []))).toEqual({
      Ready: 'True/Collecting',
      BudgetExceeded: 'False/WithinLimits',
      BudgetWarning: 'False/BelowThresholds',
      LedgerVerified: 'True/ChainsVerified',
      AgentsReachable: 'True/AllAgentsAnswered',
      ApiserverReachable: 'True/Reachable',
    });
  });

  it('names exceeded budgets, thresholds, refused chains and unreachable agents', () => {
    const computed: ComputedBudgets = {
      figures: [figures('team', ['ns-a', 'ns-b'])],
      budgets: [
        {
          name: 'team',
          periodStart: 'a',
          periodEnd: 'b',
          spent: '12',
          thresholdsReached: [80, 100],
        },
      ],
      topBudgetUtilization: '120%',
    };
    const health: Health = {
      unreachable: ['node-2'],
      refused: [{ node: 'node-1', failure: { reason: 'hash', seq: 4n, detail: 'x' } }],
    };
    const updates = roundConditions(computed, health, ['node-3: cursor ahead'], []);
    const message = (type: string) => updates.find((u) => u.type === type)?.message;
    expect(byType(updates)).toMatchObject({
      BudgetExceeded: 'True/LimitReached',
      BudgetWarning: 'True/ThresholdReached',
      LedgerVerified: 'False/ChainVerificationFailed',
      AgentsReachable: 'False/AgentsUnreachable',
    });
    expect(message('BudgetExceeded')).toBe('exceeded: team (ns-a, ns-b)');
    expect(message('BudgetWarning')).toBe('thresholds reached: team 80/100%');
    expect(message('LedgerVerified')).toBe(
      'entries refused: node-1: hash at seq 4, node-3: cursor ahead',
    );
    expect(message('AgentsReachable')).toBe('unreachable: node-2');
  });

  it('cuts long lists after ten names', () => {
    const nodes = Array.from({ length: 12 }, (_, i) => `n${i}`);
    const updates = roundConditions(quiet, { unreachable: nodes, refused: [] }, [], []);
    expect(updates.find((u) => u.type === 'AgentsReachable')?.message).toBe(
      `unreachable: ${nodes.slice(0, 10).join(', ')} and 2 more`,
    );
  });

  it('reports an ended outage, and otherwise leaves the record of the last one alone', () => {
    const outage = { since: NOW - 60_000, until: NOW, failedRounds: 3 };
    const after = roundConditions(quiet, { ...healthy, outage }, [], []);
    expect(after.find((u) => u.type === 'ApiserverReachable')).toMatchObject({
      reason: 'RecoveredFromOutage',
      message: outageNote(outage),
    });
    const held = [
      {
        type: 'ApiserverReachable',
        status: 'True' as const,
        reason: 'RecoveredFromOutage',
        message: 'm',
        lastTransitionTime: '2026-05-10T11:00:00Z',
        observedGeneration: 1,
      },
    ];
    expect(roundConditions(quiet, healthy, [], held).map((u) => u.type)).not.toContain(
      'ApiserverReachable',
    );
  });
});

describe('buildStatus', () => {
  it('records the generation it saw on the status and on every condition', () => {
    const policy = costPolicy('p');
    policy.metadata.generation = 4;
    const s = buildStatus(policy, quiet, healthy, [], NOW);
    expect(s.observedGeneration).toBe(4);
    expect(s.conditions?.every((c) => c.observedGeneration === 4)).toBe(true);
    expect(s.conditions?.[0]?.lastTransitionTime).toBe('2026-05-10T12:00:00Z');
    expect(s).not.toHaveProperty('topBudgetUtilization');
  });
});

describe('sameOwnedStatus', () => {
  it('ignores key order, which the apiserver does not keep, and fields it does not own', () => {
    const a = { observedGeneration: 1, lastCollectionTime: 't', budgets: [] };
    const b = { budgets: [], lastCollectionTime: 't', observedGeneration: 1 };
    expect(sameOwnedStatus(a, b)).toBe(true);
    expect(sameOwnedStatus(a, { ...b, other: 'x' } as typeof b)).toBe(true);
    expect(sameOwnedStatus(a, { ...b, observedGeneration: 2 })).toBe(false);
    expect(sameOwnedStatus(undefined, {})).toBe(true);
  });
});
