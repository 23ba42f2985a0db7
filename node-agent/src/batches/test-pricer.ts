// A Pricer over one compiled policy, for tests of the batcher and of what is built on it: the
// same crds pricing functions as PolicyPricer, without the informers.
import { compilePolicy, priceCall, priceShares, type CostPolicySpec } from '@agentmeter/crds';
import type { Pricer, PricingRef } from './tick-batcher.ts';

export function testPricer(spec: CostPolicySpec): { pricer: Pricer; ref: PricingRef } {
  const policy = compilePolicy('p', 3n, spec);
  const ref: PricingRef = { policy: { name: 'p', generation: '3' }, currency: policy.currency };
  const pricer: Pricer = {
    policyFor: () => ref,
    priceUsage: (_ref, usage, shares) => {
      const price = priceShares(policy.rates, usage, shares);
      return {
        currency: policy.currency,
        policy: ref.policy,
        totalNano: price.totalNano.toString(),
        bySession: price.bySession.map((s) => ({
          session: s.session,
          totalNano: s.totalNano.toString(),
        })),
      };
    },
    priceCall: (_ref, call) => priceCall(policy.rates, call),
  };
  return { pricer, ref };
}
