import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ArithmeticRangeError } from '../money/errors.ts';
import { compilePolicy } from './compile-policy.ts';
import type { CompiledRates } from './compile-policy.ts';
import { priceTokens } from './price-tokens.ts';
import { loadSamples } from './test-support.ts';

const samples = loadSamples();
function ratesOf(name: string): CompiledRates {
  const policy = samples.get(name);
  if (policy === undefined) throw new Error(`no sample ${name}`);
  return policy.rates;
}

describe('priceTokens', () => {
  it('prices listed models per million (agent-platform-sessions)', () => {
    const rates = ratesOf('agent-platform-sessions');
    // 1,234,567 × 3.00/M + 89,012 × 15.00/M = 3.703701 + 1.33518 = 5.038881 USD.
    expect(priceTokens(rates, 'claude-sonnet-4-5', 1_234_567n, 89_012n)).toEqual({
      totalNano: 5_038_881_000n,
      rate: 'claude-sonnet-4-5',
    });
    expect(priceTokens(rates, 'gpt-4o', 1_000_000n, 1_000_000n).totalNano).toBe(12_500_000_000n);
    expect(priceTokens(rates, 'meta-llama/Llama-3.1-8B-Instruct', 1n, 0n).totalNano).toBe(180n);
  });

  it('leaves a model the policy does not price at zero, with no rate', () => {
    const rates = ratesOf('agent-platform-sessions');
    expect(priceTokens(rates, 'claude-opus-4', 10n ** 9n, 10n ** 9n)).toEqual({
      totalNano: 0n,
      rate: null,
    });
    expect(priceTokens(ratesOf('ml-research-gpu'), 'gpt-4o', 5n, 5n).rate).toBeNull();
  });

  it('prices any unlisted model with "*" (platform-default)', () => {
    const rates = ratesOf('platform-default');
    expect(priceTokens(rates, 'some-model', 1_000_000n, 1_000_000n)).toEqual({
      totalNano: 18_000_000_000n,
      rate: '*',
    });
    expect(priceTokens(rates, 'x', 1n, 1n).totalNano).toBe(18_000n);
  });

  it('prefers the listed model over "*"', () => {
    const rates = compilePolicy('p', 1n, {
      currency: 'USD',
      rates: {
        tokens: [
          { model: '*', inputPerMillion: '100', outputPerMillion: '100' },
          { model: 'cheap', inputPerMillion: '1', outputPerMillion: '2' },
        ],
      },
    }).rates;
    expect(priceTokens(rates, 'cheap', 1_000_000n, 1_000_000n)).toEqual({
      totalNano: 3_000_000_000n,
      rate: 'cheap',
    });
  });

  it('rounds once per (entry, model), half-even', () => {
    const rates = compilePolicy('p', 1n, {
      currency: 'USD',
      rates: {
        tokens: [{ model: 'm', inputPerMillion: '0.0000015', outputPerMillion: '0.0000015' }],
      },
    }).rates;
    // 1500 nano per million tokens: 1000 tokens = 1.5 → 2; 3000 = 4.5 → 4.
    expect(priceTokens(rates, 'm', 1000n, 0n).totalNano).toBe(2n);
    expect(priceTokens(rates, 'm', 3000n, 0n).totalNano).toBe(4n);
    // Input and output are added before rounding: 0.375 + 0.375 = 0.75 → 1, not 0 + 0.
    expect(priceTokens(rates, 'm', 250n, 250n).totalNano).toBe(1n);
  });

  it('zero tokens cost zero and more tokens never cost less', () => {
    const rates = ratesOf('agent-platform-sessions');
    const n = fc.bigInt({ min: 0n, max: 10n ** 12n });
    fc.assert(
      fc.property(
        fc.constantFrom('gpt-4o', 'claude-sonnet-4-5', 'other'),
        n,
        n,
        n,
        (model, i, o, extra) => {
          expect(priceTokens(rates, model, 0n, 0n).totalNano).toBe(0n);
          const base = priceTokens(rates, model, i, o).totalNano;
          expect(priceTokens(rates, model, i + extra, o).totalNano >= base).toBe(true);
          expect(priceTokens(rates, model, i, o + extra).totalNano >= base).toBe(true);
        },
      ),
    );
  });

  it('refuses negative token counts', () => {
    const rates = ratesOf('platform-default');
    expect(() => priceTokens(rates, 'm', -1n, 0n)).toThrow(ArithmeticRangeError);
    expect(() => priceTokens(rates, 'm', 0n, -1n)).toThrow(/outputTokens/);
  });
});
