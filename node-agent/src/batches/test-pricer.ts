// A Pricer over one compiled policy, for tests of the batcher and of what is built on it: the
// same crds pricing functions as PolicyPricer, without the informers.
import { compilePolicy, priceCall, type CostPolicySpec } from '@agentmeter/crds';
import { podCost } from '../pricing/policy-pricer.ts';
import type { Pricer, PricingRef } from './tick-batcher.ts';

export function testPricer(spec: CostPolicySpec): { pricer: Pricer; ref: PricingRef } {
  const policy = compilePolicy('p', 3n, spec);
  const ref: PricingRef = { policy: { name: 'p', generation: '3' }, currency: policy.currency };
  const pricer: Pricer = {
    policyFor: () => ref,
    priceUsage: (_ref, usage, shares, gpuModel) => podCost(policy, ref, usage, shares, gpuModel),
    priceCall: (_ref, call) => priceCall(policy.rates, call),
  };
  return { pricer, ref };
}
