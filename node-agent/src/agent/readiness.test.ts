import { describe, expect, it } from 'vitest';
import { readinessChecks, tickStaleNs, type ReadinessSources } from './readiness.ts';

const S = 1_000_000_000n;
const NOW = 1_000n * S;

/** A healthy agent; each case breaks one thing. */
function sources(change: Partial<ReadinessSources> = {}): ReadinessSources {
  return {
    podWatchSynced: () => true,
    ledgerWritable: () => true,
    lastTickEndNs: () => NOW - 5n * S,
    nowNs: () => NOW,
    tickStaleNs: 30n * S,
    ...change,
  };
}

function failing(change: Partial<ReadinessSources>): string[] {
  return Object.entries(readinessChecks(sources(change)))
    .filter(([, check]) => !check())
    .map(([name]) => name);
}

describe('readinessChecks', () => {
  it('passes every check for a synced agent with a writable ledger and a recent tick', () => {
    expect(failing({})).toEqual([]);
  });

  it.each<[string, Partial<ReadinessSources>, string]>([
    ['the pod watch has not listed yet', { podWatchSynced: () => false }, 'pod-watch-synced'],
    ['the ledger is closed or failed', { ledgerWritable: () => false }, 'ledger-writable'],
    ['no tick has succeeded yet', { lastTickEndNs: () => undefined }, 'tick-recent'],
    ['the last tick is too old', { lastTickEndNs: () => NOW - 31n * S }, 'tick-recent'],
  ])('fails only its own check when %s', (_, change, check) => {
    expect(failing(change)).toEqual([check]);
  });

  it('allows three ticks, and at least 30 s, without a tick', () => {
    expect(tickStaleNs(1000)).toBe(30n * S);
    expect(tickStaleNs(60_000)).toBe(180n * S);
  });
});
