import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GuardSpecError, compileGuards, lookbackMs } from './compile.ts';
import { evaluateGuards } from './evaluate.ts';
import type { SessionActivity } from './evaluate.ts';

const S = 1000;
const call = (session: string, atMs: number, nano: bigint, tool?: string, argsHash?: string) => ({
  session,
  atMs,
  nano,
  call: { tool, argsHash },
});

describe('guards', () => {
  const guards = compileGuards([
    { name: 'spend', maxSpendPerMinute: '0.50' },
    { name: 'calls', maxCallsPerMinute: 3 },
    { name: 'loop', repeatedToolCall: { count: 3, windowSeconds: 120 }, action: 'Suspend' },
  ]);

  it('compiles limits to nano-units and milliseconds with the defaults filled in', () => {
    expect(guards).toEqual([
      {
        name: 'spend',
        action: 'MarkOverBudget',
        limit: { kind: 'spendPerMinute', maxNano: 500_000_000n, windowMs: 60 * S },
      },
      {
        name: 'calls',
        action: 'MarkOverBudget',
        limit: { kind: 'callsPerMinute', maxCalls: 3, windowMs: 60 * S },
      },
      {
        name: 'loop',
        action: 'Suspend',
        limit: { kind: 'repeatedToolCall', count: 3, windowMs: 120 * S },
      },
    ]);
    expect(compileGuards([{ name: 'd', repeatedToolCall: { count: 2 } }])[0]?.limit.windowMs).toBe(
      300 * S,
    );
    expect(lookbackMs(guards)).toBe(120 * S);
    expect(() => compileGuards([{ name: 'x' }])).toThrow(GuardSpecError);
    expect(() =>
      compileGuards([{ name: 'x', maxCallsPerMinute: 1, maxSpendPerMinute: '1' }]),
    ).toThrow(/guard "x": sets none or several/);
  });

  it('trips on spend in any 60 seconds, also across a clock minute', () => {
    const trips = evaluateGuards(guards, [
      { session: 'a/1', atMs: 50 * S, nano: 300_000_000n },
      { session: 'a/1', atMs: 70 * S, nano: 300_000_000n },
      // 60 s after the first: the first has left the window.
      { session: 'a/2', atMs: 0, nano: 300_000_000n },
      { session: 'a/2', atMs: 60 * S, nano: 300_000_000n },
    ]);
    expect(trips).toEqual([
      {
        guard: 'spend',
        action: 'MarkOverBudget',
        session: 'a/1',
        kind: 'spendPerMinute',
        atMs: 70 * S,
        windowStartMs: 50 * S,
        observed: '600000000',
        limit: '500000000',
      },
    ]);
  });

  it('counts calls only, not tick shares, against the call rate', () => {
    const ticks = Array.from({ length: 10 }, (_, i) => ({ session: 'a/1', atMs: i * S, nano: 1n }));
    expect(evaluateGuards(guards, ticks)).toEqual([]);
    const calls = [0, 1, 2, 3].map((i) => call('a/1', i * S, 1n));
    expect(evaluateGuards(guards, calls)).toMatchObject([
      { guard: 'calls', atMs: 3 * S, observed: '4', limit: '3' },
    ]);
  });

  it('trips on the same tool and argument hash, never on different arguments or no hash', () => {
    const records = [
      call('a/1', 0, 0n, 'search', 'h1'),
      call('a/1', 50 * S, 0n, 'search', 'h2'),
      call('a/1', 60 * S, 0n, 'search'),
      call('a/1', 100 * S, 0n, 'search', 'h1'),
      call('a/1', 110 * S, 0n, 'fetch', 'h1'),
      call('a/2', 0, 0n, 'search', 'h1'),
      call('a/2', 130 * S, 0n, 'search', 'h1'),
      call('a/2', 140 * S, 0n, 'search', 'h1'),
    ];
    const loop = guards.filter((g) => g.name === 'loop');
    expect(evaluateGuards(loop, records)).toEqual([]);
    const looping = [...records, call('a/1', 119 * S, 0n, 'search', 'h1')];
    expect(evaluateGuards(loop, looping)).toEqual([
      {
        guard: 'loop',
        action: 'Suspend',
        session: 'a/1',
        kind: 'repeatedToolCall',
        atMs: 119 * S,
        windowStartMs: 0,
        observed: '3',
        limit: '3',
        tool: 'search',
      },
    ]);
  });

  it('finds the first window over the limit, as a brute-force scan does', () => {
    const spendGuard = compileGuards([{ name: 'spend', maxSpendPerMinute: '1' }]);
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            atMs: fc.integer({ min: 0, max: 600 * S }),
            nano: fc.bigInt({ min: 0n, max: 400_000_000n }),
          }),
          { maxLength: 40 },
        ),
        (raw) => {
          const records: SessionActivity[] = raw.map((r) => ({ session: 's/1', ...r }));
          const sorted = [...records].sort((a, b) => a.atMs - b.atMs);
          let expected: number | undefined;
          for (let i = 0; i < sorted.length && expected === undefined; i++) {
            const t = (sorted[i] as SessionActivity).atMs;
            const upTo = sorted.slice(0, i + 1).filter((r) => r.atMs > t - 60 * S);
            if (upTo.reduce((a, r) => a + r.nano, 0n) > 1_000_000_000n) expected = t;
          }
          expect(evaluateGuards(spendGuard, records)[0]?.atMs).toBe(expected);
        },
      ),
    );
  });

  it('does nothing without guards', () => {
    expect(evaluateGuards([], [call('a/1', 0, 10n ** 12n)])).toEqual([]);
  });
});
