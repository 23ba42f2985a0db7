import { GENESIS_PREV, sealEntry } from '@agentmeter/crds';
import type { CallsEntry } from '@agentmeter/crds';
import { describe, expect, it } from 'vitest';
import { callsBody, draft } from '../../../crds/src/ledger/fixtures.ts';
import { contributionOf, zeroBreakdown } from '../budgets/contribution.ts';
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
    calls: null,
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

  it('turns a calls entry into one record per call, so the calls-per-minute guard counts them', () => {
    const entry = sealEntry(draft(callsBody()), GENESIS_PREV, 1n) as CallsEntry;
    const c = contributionOf(entry, {
      name: 'default',
      currency: 'USD',
      createdMs: 0,
      rates: {},
    });
    if (c === null) throw new Error('not counted');
    const records = activityOf(c);
    expect(records).toEqual([
      { session: 'agents/s-1', atMs: 1_700_000_000_900, nano: 15_900_000n, call: {} },
      { session: 'agents/s-1', atMs: 1_700_000_000_900, nano: 0n, call: { tool: 'web_search' } },
      { session: 'agents/s-1', atMs: 1_700_000_000_900, nano: 2_000_000n, call: {} },
    ]);
    // The records' spend is the session's share of the entry, exactly.
    expect(records.reduce((sum, r) => sum + r.nano, 0n)).toBe(c.sessions[0]?.nano);
    const guards = compileGuards([{ name: 'calls', maxCallsPerMinute: 2 }]);
    expect(evaluateGuards(guards, records)).toMatchObject([
      { guard: 'calls', session: 'agents/s-1', observed: '3' },
    ]);
  });
});
