import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SessionRef } from '../ledger/types.ts';
import { sumUsage, zeroUsage } from '../ledger/usage.ts';
import { CPU_NANOSECONDS_PER_CORE_HOUR } from '../units/constants.ts';
import type { CompiledRates } from './compile-policy.ts';
import { PricingError } from './errors.ts';
import { priceShares } from './price-shares.ts';
import type { SessionUsage } from './price-shares.ts';
import { EXACT_COST_DENOMINATOR, exactCostNumerator, priceUsage } from './price-usage.ts';
import { gpuModelArb, loadSamples, ratesArb, usageArb } from './test-support.ts';

const platform = loadSamples().get('platform-default')?.rates as CompiledRates;
const s = (namespace: string, id: string): SessionRef => ({ namespace, id });

function reasonOf(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(PricingError);
    return (err as PricingError).reason;
  }
  return 'accepted';
}

describe('priceShares', () => {
  it('gives an exclusive pod its whole cost', () => {
    const usage = {
      ...zeroUsage(),
      cpuNs: CPU_NANOSECONDS_PER_CORE_HOUR,
      netRxBytes: 123_456_789n,
    };
    const price = priceShares(platform, usage, [{ session: s('team-a', 'run-1'), usage }]);
    expect(price.totalNano).toBe(priceUsage(platform, usage).totalNano);
    expect(price.bySession).toEqual([
      { session: s('team-a', 'run-1'), totalNano: price.totalNano },
    ]);
  });

  it('splits a core-hour three ways; the tied nano goes to unattributed first', () => {
    const third = { ...zeroUsage(), cpuNs: CPU_NANOSECONDS_PER_CORE_HOUR / 3n };
    const pod = { ...zeroUsage(), cpuNs: CPU_NANOSECONDS_PER_CORE_HOUR };
    // 31,600,000 / 3 = 10,533,333⅓ each: one nano is left over.
    const withNull = priceShares(platform, pod, [
      { session: s('a', 's2'), usage: third },
      { session: s('a', 's1'), usage: third },
      { session: null, usage: third },
    ]);
    expect(withNull.bySession.map((x) => x.totalNano)).toEqual([
      10_533_333n,
      10_533_333n,
      10_533_334n,
    ]);
    const sessionsOnly = priceShares(platform, pod, [
      { session: s('b', 's1'), usage: third },
      { session: s('a', 's2'), usage: third },
      { session: s('a', 's1'), usage: third },
    ]);
    expect(sessionsOnly.bySession.map((x) => x.totalNano)).toEqual([
      10_533_333n,
      10_533_333n,
      10_533_334n,
    ]);
  });

  it('apportions by exact cost, not by rounded share costs', () => {
    // Each share alone rounds 39.5 → 40 (total 80), but the pod's 79 nano is what is charged.
    const share = { ...zeroUsage(), cpuNs: 4_500_000n };
    const price = priceShares(platform, sumUsage([share, share]), [
      { session: s('a', 'x'), usage: share },
      { session: s('a', 'y'), usage: share },
    ]);
    expect(price.totalNano).toBe(79n);
    expect(price.bySession.map((x) => x.totalNano)).toEqual([40n, 39n]);
  });

  it('prices an idle or rate-less pod at zero for every share', () => {
    expect(priceShares(platform, zeroUsage(), [])).toEqual({ totalNano: 0n, bySession: [] });
    const gpuOnly = { ...zeroUsage(), gpuAllocatedUs: 10n ** 12n };
    expect(priceShares(platform, gpuOnly, [{ session: null, usage: gpuOnly }])).toEqual({
      totalNano: 0n,
      bySession: [{ session: null, totalNano: 0n }],
    });
  });

  it('refuses shares that do not sum to the pod usage or repeat a session', () => {
    const usage = { ...zeroUsage(), cpuNs: 10n };
    expect(reasonOf(() => priceShares(platform, usage, []))).toBe('shares-mismatch');
    expect(
      reasonOf(() =>
        priceShares(platform, usage, [{ session: null, usage: { ...usage, cpuNs: 9n } }]),
      ),
    ).toBe('shares-mismatch');
    const half = { ...zeroUsage(), cpuNs: 5n };
    expect(
      reasonOf(() =>
        priceShares(platform, usage, [
          { session: s('a', 'x'), usage: half },
          { session: s('a', 'x'), usage: half },
        ]),
      ),
    ).toBe('duplicate-session');
  });
});

const sessionArb = fc.option(
  fc.record({
    namespace: fc.constantFrom('a', 'b', 'team-x'),
    id: fc.string({ minLength: 1, maxLength: 3 }),
  }),
  { nil: null },
);
const sharesArb: fc.Arbitrary<SessionUsage[]> = fc.uniqueArray(
  fc.record({ session: sessionArb, usage: usageArb }),
  {
    minLength: 1,
    maxLength: 8,
    selector: (x) => (x.session === null ? null : `${x.session.namespace}/${x.session.id}`),
  },
);
const caseArb = fc
  .tuple(ratesArb, sharesArb, gpuModelArb)
  .chain(([rates, shares, model]) =>
    fc.tuple(
      fc.constant(rates),
      fc.constant(shares),
      fc.constant(model),
      fc.shuffledSubarray(shares, { minLength: shares.length, maxLength: shares.length }),
    ),
  );

describe('priceShares properties', () => {
  it('Σ bySession = totalNano = priceUsage(pod); every share ≥ 0 and within 3.5 nano of exact', () => {
    fc.assert(
      fc.property(caseArb, ([rates, shares, model]) => {
        const pod = sumUsage(shares.map((x) => x.usage));
        const price = priceShares(rates, pod, shares, model);
        expect(price.totalNano).toBe(priceUsage(rates, pod, model).totalNano);
        expect(price.bySession.reduce((a, x) => a + x.totalNano, 0n)).toBe(price.totalNano);
        expect(price.bySession.map((x) => x.session)).toEqual(shares.map((x) => x.session));
        price.bySession.forEach((x, i) => {
          expect(x.totalNano >= 0n).toBe(true);
          const exact = exactCostNumerator(rates, (shares[i] as SessionUsage).usage, model);
          const twiceError = 2n * (x.totalNano * EXACT_COST_DENOMINATOR - exact);
          expect(twiceError < 7n * EXACT_COST_DENOMINATOR).toBe(true);
          expect(twiceError > -7n * EXACT_COST_DENOMINATOR).toBe(true);
        });
      }),
    );
  });

  it('is deterministic under permutation of the shares', () => {
    fc.assert(
      fc.property(caseArb, ([rates, shares, model, permuted]) => {
        const pod = sumUsage(shares.map((x) => x.usage));
        const key = (x: { session: SessionRef | null }) => JSON.stringify(x.session);
        const asMap = (list: readonly { session: SessionRef | null; totalNano: bigint }[]) =>
          new Map(list.map((x) => [key(x), x.totalNano]));
        expect(asMap(priceShares(rates, pod, permuted, model).bySession)).toEqual(
          asMap(priceShares(rates, pod, shares, model).bySession),
        );
      }),
    );
  });

  it('zero usage costs zero for every share', () => {
    fc.assert(
      fc.property(ratesArb, sharesArb, gpuModelArb, (rates, shares, model) => {
        const idle = shares.map((x) => ({ session: x.session, usage: zeroUsage() }));
        const price = priceShares(rates, zeroUsage(), idle, model);
        expect(price.totalNano).toBe(0n);
        expect(price.bySession.every((x) => x.totalNano === 0n)).toBe(true);
      }),
    );
  });
});
