import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TokenRate } from '../costpolicy/types.ts';
import { ArithmeticRangeError } from '../money/errors.ts';
import { compilePolicy } from './compile-policy.ts';
import type { CompiledRates } from './compile-policy.ts';
import { matchApiHost, priceCall } from './price-call.ts';
import type { CallTokenCounts, CallUsage } from './price-call.ts';
import { loadSamples } from './test-support.ts';

const sessions = loadSamples().get('agent-platform-sessions');
if (sessions === undefined) throw new Error('no sample agent-platform-sessions');
const rates = sessions.rates;

function tokens(counts: Partial<CallTokenCounts>): CallTokenCounts {
  return { input: 0n, output: 0n, cacheRead: 0n, cacheCreation: 0n, reasoning: 0n, ...counts };
}

function model(name: string | null, counts: Partial<CallTokenCounts>): CallUsage {
  return { kind: 'model', model: name, toolName: null, apiHost: null, tokens: tokens(counts) };
}

function ratesWith(token: TokenRate): CompiledRates {
  return compilePolicy('p', 1n, { currency: 'USD', rates: { tokens: [token] } }).rates;
}

describe('priceCall: model calls', () => {
  it('prices cache reads at the cache-read rate and only the rest of the input at the input rate', () => {
    // 10,000 input of which 8,000 cached: 2,000 × 3.00/M + 8,000 × 0.30/M + 500 × 15.00/M
    // = 0.006 + 0.0024 + 0.0075 = 0.0159 USD.
    expect(
      priceCall(
        rates,
        model('claude-sonnet-4-5', { input: 10_000n, cacheRead: 8_000n, output: 500n }),
      ),
    ).toEqual({ costNano: 15_900_000n, rate: 'claude-sonnet-4-5', unpriced: null });
  });

  it('prices a call of only cache-read tokens (input not reported) rather than nothing', () => {
    // effectiveInput = max(0, 8,000) = 8,000, all cached: 8,000 × 0.30/M = 0.0024 USD.
    expect(priceCall(rates, model('claude-sonnet-4-5', { cacheRead: 8_000n })).costNano).toBe(
      2_400_000n,
    );
  });

  it('prices cache creation at its own rate', () => {
    // 1,000 uncached × 3.00/M + 4,000 written × 3.75/M = 0.003 + 0.015.
    expect(
      priceCall(rates, model('claude-sonnet-4-5', { input: 5_000n, cacheCreation: 4_000n }))
        .costNano,
    ).toBe(18_000_000n);
  });

  it('defaults the cache rates to the input rate: cached tokens are never silently free', () => {
    const gpt = model('gpt-4o', { input: 10_000n, cacheRead: 8_000n });
    const uncached = model('gpt-4o', { input: 10_000n });
    expect(priceCall(rates, gpt).costNano).toBe(priceCall(rates, uncached).costNano);
  });

  it('never prices reasoning tokens again: they are part of output', () => {
    const plain = model('gpt-4o', { input: 100n, output: 1_000n });
    const reasoning = model('gpt-4o', { input: 100n, output: 1_000n, reasoning: 900n });
    expect(priceCall(rates, reasoning).costNano).toBe(priceCall(rates, plain).costNano);
  });

  it('switches every token to the long-context tier strictly above the threshold', () => {
    const at = model('claude-sonnet-4-5', { input: 200_000n, output: 1_000n });
    const above = model('claude-sonnet-4-5', { input: 200_001n, output: 1_000n });
    // 200,000 × 3/M + 1,000 × 15/M = 0.615; 200,001 × 6/M + 1,000 × 22.5/M = 1.222506.
    expect(priceCall(rates, at).costNano).toBe(615_000_000n);
    expect(priceCall(rates, above).costNano).toBe(1_222_506_000n);
    // Cached input counts towards the threshold.
    const cached = model('claude-sonnet-4-5', { input: 1n, cacheRead: 200_001n });
    expect(priceCall(rates, cached).costNano).toBe(120_000_600n);
  });

  it('falls back to "*", and is unpriced with a reason when neither the model nor "*" is listed', () => {
    const platform = loadSamples().get('platform-default')?.rates as CompiledRates;
    expect(priceCall(platform, model('some-model', { input: 1_000_000n })).rate).toBe('*');
    expect(priceCall(platform, model(null, { input: 1_000_000n })).rate).toBe('*');
    expect(priceCall(rates, model('claude-opus-4', { input: 1n }))).toEqual({
      costNano: null,
      rate: null,
      unpriced: 'no-model-rate',
    });
  });

  it('rounds once per call, half-even', () => {
    const oneNanoPerMillion = ratesWith({
      model: 'm',
      inputPerMillion: '0.000000001',
      outputPerMillion: '0.000000001',
    });
    // 0.5 nano rounds to 0 (even), 1.5 to 2, 2.5 to 2: once over the whole call, not per part.
    expect(priceCall(oneNanoPerMillion, model('m', { input: 500_000n })).costNano).toBe(0n);
    expect(
      priceCall(oneNanoPerMillion, model('m', { input: 1_000_000n, output: 500_000n })).costNano,
    ).toBe(2n);
    expect(
      priceCall(oneNanoPerMillion, model('m', { input: 1_500_000n, output: 1_000_000n })).costNano,
    ).toBe(2n);
  });

  it('refuses negative counts', () => {
    expect(() => priceCall(rates, model('gpt-4o', { output: -1n }))).toThrow(ArithmeticRangeError);
  });
});

describe('priceCall: tool and API calls', () => {
  const tools = compilePolicy('p', 1n, {
    currency: 'USD',
    rates: {
      tools: [
        { name: 'web_search', perCall: '0.01' },
        { name: '*', perCall: '0.001' },
      ],
      apis: [
        { host: 'api.stripe.com', perCall: '0.002' },
        { host: '*.googleapis.com', perCall: '0.0005' },
        { host: '*.maps.googleapis.com', perCall: '0.005' },
      ],
    },
  }).rates;
  const tool = (name: string | null): CallUsage => ({
    kind: 'tool',
    model: null,
    toolName: name,
    apiHost: null,
    tokens: null,
  });
  const api = (host: string): CallUsage => ({
    kind: 'api',
    model: null,
    toolName: null,
    apiHost: host,
    tokens: null,
  });

  it('prices a tool per call by name, else by "*", else unpriced', () => {
    expect(priceCall(tools, tool('web_search'))).toEqual({
      costNano: 10_000_000n,
      rate: 'web_search',
      unpriced: null,
    });
    expect(priceCall(tools, tool('calculator'))).toEqual({
      costNano: 1_000_000n,
      rate: '*',
      unpriced: null,
    });
    expect(priceCall(rates, tool('calculator')).unpriced).toBe('no-tool-rate');
    expect(priceCall(rates, tool('web_search')).costNano).toBe(10_000_000n);
  });

  it('matches API hosts exactly, then by the most specific "*." domain, never the domain itself', () => {
    expect(matchApiHost(tools, 'api.stripe.com')).toBe('api.stripe.com');
    expect(matchApiHost(tools, 'files.stripe.com')).toBeNull();
    expect(matchApiHost(tools, 'storage.googleapis.com')).toBe('*.googleapis.com');
    expect(matchApiHost(tools, 'a.b.googleapis.com')).toBe('*.googleapis.com');
    expect(matchApiHost(tools, 'x.maps.googleapis.com')).toBe('*.maps.googleapis.com');
    expect(matchApiHost(tools, 'googleapis.com')).toBeNull();
    expect(matchApiHost(tools, 'evilgoogleapis.com')).toBeNull();
    expect(priceCall(tools, api('x.maps.googleapis.com'))).toEqual({
      costNano: 5_000_000n,
      rate: '*.maps.googleapis.com',
      unpriced: null,
    });
    expect(priceCall(tools, api('example.org')).unpriced).toBe('no-api-rate');
  });
});

const count = fc.oneof(
  fc.bigInt({ min: 0n, max: 10n ** 7n }),
  fc.bigInt({ min: 0n, max: 1n << 40n }),
);
const countsArb = fc.record({
  input: count,
  output: count,
  cacheRead: count,
  cacheCreation: count,
  reasoning: count,
});
const money = fc
  .bigInt({ min: 0n, max: 100_000_000_000n })
  .map((nano) => `${nano / 1_000_000_000n}.${(nano % 1_000_000_000n).toString().padStart(9, '0')}`);
const tokenRateArb = fc
  .record({
    inputPerMillion: money,
    outputPerMillion: money,
    cacheReadPerMillion: fc.option(money, { nil: undefined }),
    cacheCreationPerMillion: fc.option(money, { nil: undefined }),
    longContext: fc.option(
      fc.record(
        {
          aboveInputTokens: fc.integer({ min: 1, max: 10_000_000 }),
          inputPerMillion: money,
          outputPerMillion: money,
          cacheReadPerMillion: money,
          cacheCreationPerMillion: money,
        },
        { requiredKeys: ['aboveInputTokens', 'inputPerMillion', 'outputPerMillion'] },
      ),
      { nil: undefined },
    ),
  })
  .map((r): TokenRate => {
    const out: TokenRate = {
      model: 'm',
      inputPerMillion: r.inputPerMillion,
      outputPerMillion: r.outputPerMillion,
    };
    if (r.cacheReadPerMillion !== undefined) out.cacheReadPerMillion = r.cacheReadPerMillion;
    if (r.cacheCreationPerMillion !== undefined)
      out.cacheCreationPerMillion = r.cacheCreationPerMillion;
    if (r.longContext !== undefined) out.longContext = r.longContext;
    return out;
  });

function cost(r: CompiledRates, counts: CallTokenCounts): bigint {
  const price = priceCall(r, model('m', counts));
  if (price.costNano === null) throw new Error('unpriced');
  return price.costNano;
}

describe('priceCall properties', () => {
  it('is monotone in each token count within one tier', () => {
    fc.assert(
      fc.property(
        tokenRateArb.map((r) => ({ ...r, longContext: undefined })),
        countsArb,
        fc.constantFrom('input', 'output', 'cacheRead', 'cacheCreation', 'reasoning' as const),
        count,
        (token, counts, field, extra) => {
          const r = ratesWith(token);
          const more = { ...counts, [field]: counts[field] + extra };
          expect(cost(r, more) >= cost(r, counts)).toBe(true);
        },
      ),
    );
  });

  it('never prices cached input above full input when the cache rates are at most the input rate', () => {
    fc.assert(
      fc.property(tokenRateArb, countsArb, (token, counts) => {
        const r = ratesWith(token);
        const rate = r.tokens.get('m');
        if (rate === undefined) throw new Error('no rate');
        fc.pre(
          rate.cacheReadPerMillionNano <= rate.inputPerMillionNano &&
            rate.cacheCreationPerMillionNano <= rate.inputPerMillionNano &&
            (rate.longContext === null ||
              (rate.longContext.cacheReadPerMillionNano <= rate.longContext.inputPerMillionNano &&
                rate.longContext.cacheCreationPerMillionNano <=
                  rate.longContext.inputPerMillionNano)),
        );
        const cached = counts.cacheRead + counts.cacheCreation;
        const input = counts.input > cached ? counts.input : cached;
        const uncached = { ...counts, input, cacheRead: 0n, cacheCreation: 0n };
        expect(cost(r, { ...counts, input }) <= cost(r, uncached)).toBe(true);
      }),
    );
  });

  it('rounds the exact rational once, half-even', () => {
    fc.assert(
      fc.property(
        tokenRateArb.map((r) => ({ ...r, longContext: undefined })),
        countsArb,
        (token, counts) => {
          const r = ratesWith(token);
          const rate = r.tokens.get('m');
          if (rate === undefined) throw new Error('no rate');
          const cached = counts.cacheRead + counts.cacheCreation;
          const input = counts.input > cached ? counts.input : cached;
          const exact =
            (input - cached) * rate.inputPerMillionNano +
            counts.cacheRead * rate.cacheReadPerMillionNano +
            counts.cacheCreation * rate.cacheCreationPerMillionNano +
            counts.output * rate.outputPerMillionNano;
          const got = cost(r, counts);
          // |got × 10^6 − exact| ≤ 10^6 / 2, and on a tie the result is even.
          const diff = got * 1_000_000n - exact;
          expect(diff <= 500_000n && diff >= -500_000n).toBe(true);
          if (diff === 500_000n || diff === -500_000n) expect(got % 2n).toBe(0n);
        },
      ),
    );
  });

  it('uses the long-context tier exactly when effective input is above the threshold', () => {
    fc.assert(
      fc.property(tokenRateArb, countsArb, (token, counts) => {
        const long = token.longContext;
        fc.pre(long !== undefined);
        if (long === undefined) return;
        const above = BigInt(long.aboveInputTokens);
        const base = ratesWith({ ...token, longContext: undefined });
        const { aboveInputTokens: _, ...prices } = long;
        const tier = ratesWith({ model: 'm', ...prices });
        const cached = counts.cacheRead + counts.cacheCreation;
        const effective = counts.input > cached ? counts.input : cached;
        const expected = effective > above ? cost(tier, counts) : cost(base, counts);
        expect(cost(ratesWith(token), counts)).toBe(expected);
      }),
    );
  });
});
