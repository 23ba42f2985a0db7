import type { CallKind, UnpricedReason } from '../ledger/types.ts';
import { nonNegative } from '../money/errors.ts';
import { divRoundHalfEven } from '../money/half-even.ts';
import { TOKENS_PER_MILLION } from '../units/constants.ts';
import { SUBDOMAINS } from './compile-policy.ts';
import type { CompiledRates, CompiledTokenPrices } from './compile-policy.ts';
import { ANY_MODEL } from './price-tokens.ts';

/** The tool-rate key that prices every tool the policy does not list. */
export const ANY_TOOL = '*';

export interface CallTokenCounts {
  /** Includes cached tokens (semantic conventions). */
  readonly input: bigint;
  /** Includes reasoning tokens. */
  readonly output: bigint;
  readonly cacheRead: bigint;
  readonly cacheCreation: bigint;
  /** Already in output: recorded, never priced again. */
  readonly reasoning: bigint;
}

/** What pricing needs of one leaf call. */
export interface CallUsage {
  readonly kind: CallKind;
  readonly model: string | null;
  readonly toolName: string | null;
  readonly apiHost: string | null;
  /** Model calls only. */
  readonly tokens: CallTokenCounts | null;
}

export type CallPrice =
  | { readonly costNano: bigint; readonly rate: string; readonly unpriced: null }
  | { readonly costNano: null; readonly rate: null; readonly unpriced: UnpricedReason };

/**
 * Prices one call under a policy's compiled rates. A call whose model, tool or host has no
 * rate is unpriced with the reason, never free. Token arithmetic: input includes the cached
 * tokens, so `effectiveInput = max(input, cacheRead + cacheCreation)` and only
 * `effectiveInput - cacheRead - cacheCreation` is priced at the input rate; the long-context
 * tier applies to every token of a call whose effectiveInput is above its threshold. The
 * exact rational is rounded once, half-even, per call.
 */
export function priceCall(rates: CompiledRates, call: CallUsage): CallPrice {
  switch (call.kind) {
    case 'model':
      return priceModelCall(rates, call);
    case 'tool': {
      const name = call.toolName;
      const rate =
        name !== null && rates.tools.has(name) ? name : rates.tools.has(ANY_TOOL) ? ANY_TOOL : null;
      const perCall = rate === null ? undefined : rates.tools.get(rate);
      return rate === null || perCall === undefined
        ? unpriced('no-tool-rate')
        : { costNano: perCall, rate, unpriced: null };
    }
    case 'api': {
      const rate = call.apiHost === null ? null : matchApiHost(rates, call.apiHost);
      const perCall = rate === null ? undefined : apiRate(rates, rate);
      return rate === null || perCall === undefined
        ? unpriced('no-api-rate')
        : { costNano: perCall, rate, unpriced: null };
    }
  }
}

/**
 * The API host pattern `host` matches in a policy, or null (then the span is not an API call).
 * An exact host wins over patterns; among `*.domain` patterns the longest domain wins. A
 * pattern matches hosts strictly under its domain, not the domain itself.
 */
export function matchApiHost(rates: CompiledRates, host: string): string | null {
  const { exact, subdomains } = rates.apis;
  if (exact.has(host)) return host;
  if (subdomains.size === 0) return null;
  for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.', dot + 1)) {
    const domain = host.slice(dot + 1);
    if (subdomains.has(domain)) return SUBDOMAINS + domain;
  }
  return null;
}

function apiRate(rates: CompiledRates, pattern: string): bigint | undefined {
  return pattern.startsWith(SUBDOMAINS)
    ? rates.apis.subdomains.get(pattern.slice(SUBDOMAINS.length))
    : rates.apis.exact.get(pattern);
}

function priceModelCall(rates: CompiledRates, call: CallUsage): CallPrice {
  const model = call.model;
  const rate =
    model !== null && rates.tokens.has(model)
      ? model
      : rates.tokens.has(ANY_MODEL)
        ? ANY_MODEL
        : null;
  const entry = rate === null ? undefined : rates.tokens.get(rate);
  if (rate === null || entry === undefined) return unpriced('no-model-rate');
  const tokens = call.tokens;
  if (tokens === null) return { costNano: 0n, rate, unpriced: null };
  nonNegative('tokens.input', tokens.input);
  nonNegative('tokens.output', tokens.output);
  nonNegative('tokens.cacheRead', tokens.cacheRead);
  nonNegative('tokens.cacheCreation', tokens.cacheCreation);
  nonNegative('tokens.reasoning', tokens.reasoning);
  const cached = tokens.cacheRead + tokens.cacheCreation;
  const effectiveInput = tokens.input > cached ? tokens.input : cached;
  const tier: CompiledTokenPrices =
    entry.longContext !== null && effectiveInput > entry.longContext.aboveInputTokens
      ? entry.longContext
      : entry;
  const exactTimesMillion =
    (effectiveInput - cached) * tier.inputPerMillionNano +
    tokens.cacheRead * tier.cacheReadPerMillionNano +
    tokens.cacheCreation * tier.cacheCreationPerMillionNano +
    tokens.output * tier.outputPerMillionNano;
  return {
    costNano: divRoundHalfEven(exactTimesMillion, TOKENS_PER_MILLION),
    rate,
    unpriced: null,
  };
}

function unpriced(reason: UnpricedReason): CallPrice {
  return { costNano: null, rate: null, unpriced: reason };
}
