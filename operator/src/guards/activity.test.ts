import { describe, expect, it } from 'vitest';
import { zeroBreakdown } from '../budgets/contribution.ts';
import { activityOf } from './activity.ts';
import { compileGuards } from './compile.ts';
import { evaluateGuards } from './evaluate.ts';

describe('session activity from ledger contributions', () => {
  const tick = (timeMs: number, nano: bigint) => ({
    timeMs,
    namespace: 'a',
    totalNano: nano + 5n,
    sessions: [
      { key: 'a/loop', nano },
      { key: 'a/calm', nano: 5n },
    ],
    breakdown: zeroBreakdown(),
    inputTokens: 0n,
    outputTokens: 0n,
  });

  it('turns session shares into spend records the spend guard reads', () => {
    expect(activityOf(tick(1000, 7n))).toEqual([
      { session: 'a/loop', atMs: 1000, nano: 7n },
      { session: 'a/calm', atMs: 1000, nano: 5n },
    ]);
    const guards = compileGuards([{ name: 'spend', maxSpendPerMinute: '1' }]);
    const ticks = [0, 10_000, 20_000, 30_000].map((t) => tick(t, 300_000_000n));
    expect(evaluateGuards(guards, ticks.flatMap(activityOf))).toMatchObject([
      { guard: 'spend', session: 'a/loop', atMs: 30_000, observed: '1200000000' },
    ]);
  });
});
