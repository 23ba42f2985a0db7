import { describe, expect, it } from 'vitest';
import { indexPage, PolicyFold } from '../budgets/accumulate.ts';
import { contributionOf } from '../budgets/contribution.ts';
import { emptyState } from '../budgets/state.ts';
import { callsBody, chainOf, podBody, view, type CallSpec } from '../budgets/test-ledger.ts';
import { activityOf } from './activity.ts';
import { compileGuards } from './compile.ts';
import { evaluateGuards } from './evaluate.ts';
import { ActivityWindow } from './window.ts';

const S = 1000;
const T0 = Date.parse('2026-05-10T12:00:00Z');
const H1 = '1'.repeat(64);
const H2 = '2'.repeat(64);

/** The activity a policy's fold keeps of `bodies`, folded as one page of node n1. */
function fold(bodies: Parameters<typeof chainOf>[1], again = false) {
  const entries = chainOf('n1', bodies);
  const page = indexPage('n1', { node: 'n1', seq: 0n, hash: entries[0]?.prev ?? '' }, entries);
  const f = new PolicyFold(emptyState(), [], { ...view, activitySinceMs: T0 - 600 * S }, T0);
  f.add(page);
  // A page pulled again (a retry) is past the cursor: nothing is added twice.
  if (again) f.add(page);
  return f.finish();
}

const loop = (n: number, from: number, every: number, more: Partial<CallSpec> = {}) =>
  Array.from({ length: n }, (_, i) => ({ atMs: from + i * every, tool: 'search', ...more }));

describe('session activity from ledger entries', () => {
  it('turns a calls entry into one record per call with its tool and argument hash', () => {
    const [entry] = chainOf('n1', [
      callsBody({
        namespace: 'a',
        session: 'loop',
        calls: [
          { atMs: T0, nano: 7n },
          { atMs: T0 + 1, tool: 'search', argsHash: H1, nano: null },
          { atMs: T0 + 2, tool: 'fetch', argsHash: null, nano: 3n },
        ],
      }),
    ]);
    if (entry === undefined) throw new Error('no entry');
    expect(activityOf(entry, contributionOf(entry, view.identity), view.identity)).toEqual([
      { session: 'a/loop', atMs: T0, nano: 7n, call: {} },
      { session: 'a/loop', atMs: T0 + 1, nano: 0n, call: { tool: 'search', argsHash: H1 } },
      { session: 'a/loop', atMs: T0 + 2, nano: 3n, call: { tool: 'fetch' } },
    ]);
    // Another policy's entry, or calls without a session, are nobody's session activity.
    const other = { ...view.identity, name: 'q' };
    expect(activityOf(entry, null, other)).toEqual([]);
    const [anon] = chainOf('n1', [
      callsBody({ namespace: 'a', session: null, calls: [{ atMs: T0 }] }),
    ]);
    if (anon === undefined) throw new Error('no entry');
    expect(activityOf(anon, null, view.identity)).toEqual([]);
  });

  it('counts calls per minute from calls entries only, each call once', () => {
    const guards = compileGuards([{ name: 'rate', maxCallsPerMinute: 5 }]);
    // Tick shares of a busy pod: many entries, no calls.
    const ticks = Array.from({ length: 30 }, (_, i) =>
      podBody({ namespace: 'a', nano: 1000n, atMs: T0 + i * S, session: 'busy' }, i),
    );
    // Six calls in 50 s, over two entries: past five a minute.
    const calls = [
      callsBody({ namespace: 'a', session: 'chatty', calls: loop(3, T0, 10 * S) }, 1),
      callsBody({ namespace: 'a', session: 'chatty', calls: loop(3, T0 + 30 * S, 10 * S) }, 2),
    ];
    // Five calls a minute, just under.
    const calm = callsBody({ namespace: 'a', session: 'calm', calls: loop(5, T0, 12 * S) }, 3);
    const r = fold([...ticks, ...calls, calm], true);
    const window = new ActivityWindow();
    // Committed once, then seen again as pending: still each call once.
    window.commit(r.activity);
    const trips = evaluateGuards(guards, window.records(r.activity, -Infinity));
    expect(trips).toEqual([
      expect.objectContaining({
        guard: 'rate',
        session: 'a/chatty',
        observed: '6',
        atMs: T0 + 50 * S,
      }),
    ]);
    // The spend guard reads each call's cost once: the calls entries add 11 × 1000 nano.
    const spent = window
      .records([], -Infinity)
      .filter((x) => x.session !== 'a/busy')
      .reduce((a, x) => a + x.nano, 0n);
    expect(spent).toBe(11_000n);
  });

  it('trips on the same tool with the same argument hash in the window, not on others', () => {
    const guards = compileGuards([
      { name: 'same', repeatedToolCall: { count: 4, windowSeconds: 60 } },
    ]);
    const bodies = [
      // Three identical calls, then one with other arguments and one without a hash: no trip.
      callsBody({ namespace: 'a', session: 's', calls: loop(3, T0, S, { argsHash: H1 }) }, 1),
      callsBody(
        {
          namespace: 'a',
          session: 's',
          calls: [
            { atMs: T0 + 5 * S, tool: 'search', argsHash: H2 },
            { atMs: T0 + 6 * S, tool: 'search', argsHash: null },
            { atMs: T0 + 7 * S, tool: 'fetch', argsHash: H1 },
          ],
        },
        2,
      ),
    ];
    expect(
      evaluateGuards(
        guards,
        fold(bodies).activity.flatMap((e) => e.records),
      ),
    ).toEqual([]);
    const fourth = callsBody(
      { namespace: 'a', session: 's', calls: [{ atMs: T0 + 8 * S, tool: 'search', argsHash: H1 }] },
      3,
    );
    const trips = evaluateGuards(
      guards,
      fold([...bodies, fourth]).activity.flatMap((e) => e.records),
    );
    expect(trips).toEqual([
      expect.objectContaining({
        guard: 'same',
        session: 'a/s',
        tool: 'search',
        observed: '4',
        atMs: T0 + 8 * S,
      }),
    ]);
  });
});
