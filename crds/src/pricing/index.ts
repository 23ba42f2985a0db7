export { SUBDOMAINS, compilePolicy } from './compile-policy.ts';
export type {
  CompiledApiRates,
  CompiledGpuRates,
  CompiledLongContext,
  CompiledPolicy,
  CompiledRates,
  CompiledTokenPrices,
  CompiledTokenRate,
  PolicySnapshot,
} from './compile-policy.ts';
export { ApportionError, PolicyCompileError, PricingError } from './errors.ts';
export type { ApportionReason, PolicyCompileReason, PricingReason } from './errors.ts';
export { apportion } from './largest-remainder.ts';
export type { ApportionWeight } from './largest-remainder.ts';
export { priceShares } from './price-shares.ts';
export type { SessionPrice, SessionUsage, SharesPrice } from './price-shares.ts';
export { ANY_TOOL, matchApiHost, priceCall } from './price-call.ts';
export type { CallPrice, CallTokenCounts, CallUsage } from './price-call.ts';
export { ANY_MODEL, priceTokens } from './price-tokens.ts';
export type { TokenPrice } from './price-tokens.ts';
export {
  EXACT_COST_DENOMINATOR,
  PRICED_RESOURCES,
  exactCostNumerator,
  priceUsage,
} from './price-usage.ts';
export type { PricedResource, UsagePrice } from './price-usage.ts';
export { policySelects, selectPolicy } from './select-policy.ts';
export type { PodIdentity } from './select-policy.ts';
export { matchesLabelSelector } from './selector.ts';
export type { Labels } from './selector.ts';
export { labelTags, mergeTags, sortedTags, spanTags, tagValue } from './allocation-tags.ts';
export type { SpanTag } from './allocation-tags.ts';
