import { describe, expect, it } from 'vitest';
import type { GuardTrip } from './evaluate.ts';
import { nextGuards } from './tripped.ts';
import { ActivityWindow } from './window.ts';

const NOW = Date.parse('2026-05-10T12:00:00Z');
const UNTIL = Date.parse('2026-05-11T00:00:00Z');

const trip = (session: string, more: Partial<GuardTrip> = {}): GuardTrip => ({
  guard: 'burn',
  action: 'MarkOverBudget',
  session,
  kind: 'spendPerMinute',
  atMs: NOW - 5000,
  windowStartMs: NOW - 30_000,
  observed: '1200000000',
  limit: '1000000000',
  ...more,
});

/** The status after a1 tripped at NOW. */
const trippedOnce = () =>
  nextGuards({
    held: undefined,
    clear: undefined,
    trips: [trip('a/1')],
    nowMs: NOW,
    untilMs: UNTIL,
  }).status;

describe('the tripped set', () => {
  it('adds new trips with money shown as decimals and keeps held ones without a new Event', () => {
    const first = nextGuards({
      held: undefined,
      clear: undefined,
      trips: [trip('a/1')],
      nowMs: NOW,
      untilMs: UNTIL,
    });
    expect(first.fresh).toEqual([trip('a/1')]);
    expect(first.status.tripped).toEqual([
      {
        guard: 'burn',
        session: 'a/1',
        action: 'MarkOverBudget',
        kind: 'spendPerMinute',
        trippedAt: '2026-05-10T11:59:55Z',
        until: '2026-05-11T00:00:00Z',
        observed: '1.2',
        limit: '1',
      },
    ]);
    const again = nextGuards({
      held: first.status,
      clear: undefined,
      trips: [trip('a/1'), trip('a/2', { kind: 'callsPerMinute', observed: '4', limit: '3' })],
      nowMs: NOW + 1000,
      untilMs: UNTIL,
    });
    expect(again.fresh.map((t) => [t.session, t.observed])).toEqual([['a/2', '4']]);
    expect(again.status.tripped?.map((t) => [t.session, t.observed])).toEqual([
      ['a/1', '1.2'],
      ['a/2', '4'],
    ]);
  });

  it('drops a mark at the end of its period', () => {
    const held = trippedOnce();
    const later = nextGuards({
      held,
      clear: undefined,
      trips: [],
      nowMs: UNTIL,
      untilMs: UNTIL + 1,
    });
    expect(later.status).toEqual({ tripped: [] });
  });

  it('clears everything once per new annotation value, not again for the same value', () => {
    const held = trippedOnce();
    const cleared = nextGuards({ held, clear: 'x', trips: [], nowMs: NOW, untilMs: UNTIL });
    expect(cleared.status).toEqual({
      tripped: [],
      cleared: 'x',
      clearedAt: '2026-05-10T12:00:00Z',
    });
    const tripsAgain = nextGuards({
      held: cleared.status,
      clear: 'x',
      trips: [trip('a/1', { atMs: NOW + 2000 })],
      nowMs: NOW + 3000,
      untilMs: UNTIL,
    });
    expect(tripsAgain.fresh).toHaveLength(1);
    expect(tripsAgain.status.cleared).toBe('x');
  });
});

describe('the activity window', () => {
  it('holds each ledger entry once, however often it is committed or pending', () => {
    const w = new ActivityWindow();
    const e = { entry: 'n/1', records: [{ session: 'a/1', atMs: 1000, nano: 5n }] };
    w.commit([e]);
    w.commit([e]);
    expect(w.records([e], -Infinity)).toEqual(e.records);
    expect(w.records([], 1000)).toEqual([]);
    w.commit([{ entry: 'n/2', records: [{ session: 'a/1', atMs: 5000, nano: 1n }] }]);
    w.prune(2000);
    expect(w.size).toBe(1);
  });
});
