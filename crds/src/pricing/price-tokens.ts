import { nonNegative } from '../money/errors.ts';
import { divRoundHalfEven } from '../money/half-even.ts';
import { TOKENS_PER_MILLION } from '../units/constants.ts';
import type { CompiledRates } from './compile-policy.ts';

/** The token-rate key that prices every model the policy does not list. */
export const ANY_MODEL = '*';

export interface TokenPrice {
  readonly totalNano: bigint;
  /** The rate entry used: the model itself, "*", or null when neither is listed (cost 0). */
  readonly rate: string | null;
}

/**
 * Cost of one model's tokens in one entry. Rounding: input and output are added as an exact
 * rational (tokens × per-million rate / 10^6) and rounded ONCE, half-even, per (entry, model);
 * an entry with several models sums those amounts.
 */
export function priceTokens(
  rates: CompiledRates,
  model: string,
  inputTokens: bigint,
  outputTokens: bigint,
): TokenPrice {
  nonNegative('inputTokens', inputTokens);
  nonNegative('outputTokens', outputTokens);
  const rate = rates.tokens.has(model) ? model : rates.tokens.has(ANY_MODEL) ? ANY_MODEL : null;
  const entry = rate === null ? undefined : rates.tokens.get(rate);
  if (entry === undefined) return { totalNano: 0n, rate: null };
  const exactTimesMillion =
    inputTokens * entry.inputPerMillionNano + outputTokens * entry.outputPerMillionNano;
  return { totalNano: divRoundHalfEven(exactTimesMillion, TOKENS_PER_MILLION), rate };
}
