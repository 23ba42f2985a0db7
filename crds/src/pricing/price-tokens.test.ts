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
  it.each<[string, string, bigint, bigint, bigint, string | null]>([
    // Listed models, per million: 1,234,567 × 3.00/M + 89,012 × 15.00/M = 3.703701 + 1.33518.
    [
      'agent-platform-sessions',
      'claude-sonnet-4-5',
      1_234_567n,
      89_012n,
      5_038_881_000n,
      'claude-sonnet-4-5',
    ],
    ['agent-platform-sessions', 'gpt-4o', 1_000_000n, 1_000_000n, 12_500_000_000n, 'gpt-4o'],
    [
      'agent-platform-sessions',
      'meta-llama/Llama-3.1-8B-Instruct',
      1n,
      0n,
      180n,
      'meta-llama/Llama-3.1-8B-Instruct',
    ],
    // A model the policy does not price: zero, with no rate.
    ['agent-platform-sessions', 'claude-opus-4', 10n ** 9n, 10n ** 9n, 0n, null],
    ['ml-research-gpu', 'gpt-4o', 5n, 5n, 0n, null],
    // Any unlisted model, by "*".
    ['platform-default', 'some-model', 1_000_000n, 1_000_000n, 18_000_000_000n, '*'],
    ['platform-default', 'x', 1n, 1n, 18_000n, '*'],
  ])('%s prices %s (%s in, %s out)', (sample, model, input, output, totalNano, rate) => {
    expect(priceTokens(ratesOf(sample), model, input, output)).toEqual({ totalNano, rate });
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
