import type { SessionRef } from '../ledger/types.ts';
import type { Usage } from '../ledger/usage.ts';
import { sumUsage, usageEquals } from '../ledger/usage.ts';
import type { CompiledRates } from './compile-policy.ts';
import { PricingError } from './errors.ts';
import { apportion } from './largest-remainder.ts';
import { exactCostNumerator, priceUsage } from './price-usage.ts';

/** One session's part of a pod's tick usage; `session: null` is the unattributed remainder. */
export interface SessionUsage {
  readonly session: SessionRef | null;
  readonly usage: Usage;
}

export interface SessionPrice {
  readonly session: SessionRef | null;
  readonly totalNano: bigint;
}

/** The numbers of a ledger PodCost, as BigInt. */
export interface SharesPrice {
  readonly totalNano: bigint;
  /** Same sessions in the same order as the shares; sums to totalNano exactly. */
  readonly bySession: readonly SessionPrice[];
}

/**
 * Unattributed's tie-break key. It sorts before every `namespace/id` (namespaces are non-empty
 * DNS labels), so on an equal remainder a rounding nano goes to unattributed rather than onto a
 * session's budget.
 */
const UNATTRIBUTED_KEY = '';

function sessionKey(session: SessionRef | null): string {
  return session === null ? UNATTRIBUTED_KEY : `${session.namespace}/${session.id}`;
}

/**
 * Prices a pod's tick and splits the cost over its session shares. totalNano is
 * priceUsage(podUsage) (one half-even rounding per resource); it is then apportioned by each
 * share's exact, unrounded cost with the largest-remainder method, so Σ bySession = totalNano
 * to the nano, every share is ≥ 0 and within 3.5 nano of its exact cost, and the result does
 * not depend on the order of the shares. Throws PricingError when the shares do not sum to
 * podUsage exactly or name a session twice.
 */
export function priceShares(
  rates: CompiledRates,
  podUsage: Usage,
  shares: readonly SessionUsage[],
  gpuModel?: string,
): SharesPrice {
  if (!usageEquals(sumUsage(shares.map((s) => s.usage)), podUsage)) {
    throw new PricingError('shares-mismatch', 'shares do not sum to the pod usage exactly');
  }
  const keys = shares.map((s) => sessionKey(s.session));
  if (new Set(keys).size !== keys.length) {
    throw new PricingError('duplicate-session', 'a session appears in more than one share');
  }
  const { totalNano } = priceUsage(rates, podUsage, gpuModel);
  const amounts = apportion(
    totalNano,
    shares.map((s, i) => ({
      key: keys[i] as string,
      numerator: exactCostNumerator(rates, s.usage, gpuModel),
    })),
    exactCostNumerator(rates, podUsage, gpuModel),
  );
  return {
    totalNano,
    bySession: shares.map((s, i) => ({
      session: s.session,
      totalNano: amounts.get(keys[i] as string) as bigint,
    })),
  };
}
