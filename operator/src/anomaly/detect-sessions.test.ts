import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SESSION_DETECTOR, detectSessions, sessionBars } from './detect-sessions.ts';

const UNIT = 1_000_000_000n;
const CENT = UNIT / 100n;

/** 200 peers costing 1-10 cents, in a spread like real sessions. */
function peers(): bigint[] {
  return Array.from({ length: 200 }, (_, i) => CENT + BigInt((i * 37) % 10) * CENT);
}

describe('session detector', () => {
  it('sets a bar from the peers’ high quantile, at least the median plus the minimum cost', () => {
    const bars = sessionBars(new Map([['a', peers()]]));
    const bar = bars.get('a');
    expect(bar?.quantileNano).toBe(10n * CENT);
    // 10 × 10 cents = 1 unit, below median (5 cents) + 1 unit of minimum cost.
    expect(bar?.thresholdNano).toBe(bar === undefined ? 0n : bar.medianNano + UNIT);
  });

  it('flags a running session far above its namespace’s peers and no peer', () => {
    const bars = sessionBars(new Map([['a', peers()]]));
    const sessions = [
      ...peers().map((nano, i) => ({ key: `a/s${i}`, namespace: 'a', nano })),
      { key: 'a/loop', namespace: 'a', nano: 25n * UNIT },
      { key: 'b/lonely', namespace: 'b', nano: 1000n * UNIT },
    ];
    const found = detectSessions(sessions, bars);
    expect(found.map((v) => v.key)).toEqual(['a/loop']);
    expect(found[0]?.timesQuantileHundredths).toBe(25_000n);
  });

  it('needs enough peers for a bar', () => {
    const few = peers().slice(0, DEFAULT_SESSION_DETECTOR.minPeers - 1);
    expect(sessionBars(new Map([['a', few]])).size).toBe(0);
  });

  it('is not moved by a few anomalous peers', () => {
    const clean = sessionBars(new Map([['a', peers()]])).get('a');
    const dirty = peers();
    dirty[0] = 10_000n * UNIT;
    expect(sessionBars(new Map([['a', dirty]])).get('a')?.quantileNano).toBe(clean?.quantileNano);
  });

  it('never flags a session at or below the largest peer', () => {
    fc.assert(
      fc.property(
        fc.array(fc.bigInt({ min: 0n, max: 50n * UNIT }), { minLength: 50 }),
        (totals) => {
          const max = totals.reduce((a, b) => (a > b ? a : b));
          const bars = sessionBars(new Map([['a', [...totals]]]));
          const found = detectSessions(
            totals.map((nano, i) => ({ key: `a/${i}`, namespace: 'a', nano })),
            bars,
          );
          for (const v of found) expect(v.observedNano).toBeGreaterThan(v.thresholdNano);
          if ((bars.get('a')?.thresholdNano ?? 0n) >= max) expect(found).toEqual([]);
        },
      ),
      { numRuns: 50 },
    );
  });
});
