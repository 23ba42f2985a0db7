import { describe, expect, it } from 'vitest';
import type { CostPolicySpec, GpuModelRate, Rates } from '../costpolicy/types.ts';
import { MoneyParseError } from '../money/errors.ts';
import { compilePolicy } from './compile-policy.ts';
import { PolicyCompileError } from './errors.ts';
import { loadSamples } from './test-support.ts';

function compileError(spec: CostPolicySpec): PolicyCompileError {
  try {
    compilePolicy('bad', 7n, spec);
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyCompileError);
    return err as PolicyCompileError;
  }
  throw new Error('expected a PolicyCompileError');
}

const usd = (rates: Rates): CostPolicySpec => ({ currency: 'USD', rates });
const gpuModels = (...models: GpuModelRate[]): CostPolicySpec =>
  usd({ gpuHour: { default: '1', models } });
/** The same entry twice, the second with other prices: a repeated list key. */
const repeated = <T extends object>(entry: T, change: Partial<T>): T[] => [
  entry,
  { ...entry, ...change },
];

describe('compilePolicy', () => {
  it('parses every rate of the samples into nano-units once', () => {
    const samples = loadSamples();
    const gpu = samples.get('ml-research-gpu');
    expect(gpu?.priority).toBe(100);
    expect(gpu?.currency).toBe('EUR');
    expect(gpu?.generation).toBe(1n);
    expect(gpu?.rates).toEqual({
      cpuCoreHourNano: 29_000_000n,
      memoryGiBHourNano: 3_900_000n,
      gpuHour: {
        basis: 'Allocation',
        defaultNano: 1_200_000_000n,
        models: new Map([
          ['NVIDIA H100 80GB HBM3', 3_850_000_000n],
          ['NVIDIA A100-SXM4-80GB', 2_400_000_000n],
          ['NVIDIA L4', 680_000_000n],
        ]),
      },
      ioGiBNano: 0n,
      networkGiBNano: 8_000_000n,
      tokens: new Map(),
      tools: new Map(),
      apis: { exact: new Map(), subdomains: new Map() },
    });
    const platform = samples.get('platform-default');
    expect(platform?.priority).toBe(0);
    expect(platform?.rates.gpuHour).toBeNull();
    expect(platform?.rates.tokens).toEqual(
      new Map([
        [
          '*',
          {
            inputPerMillionNano: 3_000_000_000n,
            outputPerMillionNano: 15_000_000_000n,
            // Cache rates default to the input rate: never silently free.
            cacheReadPerMillionNano: 3_000_000_000n,
            cacheCreationPerMillionNano: 3_000_000_000n,
            longContext: null,
          },
        ],
      ]),
    );
  });

  it('compiles cache, long-context, tool and API rates', () => {
    const p = compilePolicy('p', 1n, {
      currency: 'USD',
      rates: {
        tokens: [
          {
            model: 'm',
            inputPerMillion: '3',
            outputPerMillion: '15',
            cacheReadPerMillion: '0.30',
            longContext: {
              aboveInputTokens: 200_000,
              inputPerMillion: '6',
              outputPerMillion: '22.5',
            },
          },
        ],
        tools: [{ name: 'web_search', perCall: '0.01' }],
        apis: [
          { host: 'api.stripe.com', perCall: '0.002' },
          { host: '*.googleapis.com', perCall: '0.0005' },
        ],
      },
    });
    expect(p.rates.tokens.get('m')).toEqual({
      inputPerMillionNano: 3_000_000_000n,
      outputPerMillionNano: 15_000_000_000n,
      cacheReadPerMillionNano: 300_000_000n,
      cacheCreationPerMillionNano: 3_000_000_000n,
      longContext: {
        aboveInputTokens: 200_000n,
        inputPerMillionNano: 6_000_000_000n,
        outputPerMillionNano: 22_500_000_000n,
        // The tier's cache rates default to the tier's input rate.
        cacheReadPerMillionNano: 6_000_000_000n,
        cacheCreationPerMillionNano: 6_000_000_000n,
      },
    });
    expect(p.rates.tools).toEqual(new Map([['web_search', 10_000_000n]]));
    expect(p.rates.apis).toEqual({
      exact: new Map([['api.stripe.com', 2_000_000n]]),
      subdomains: new Map([['googleapis.com', 500_000n]]),
    });
  });

  it('defaults the GPU basis to Allocation and priority to 0', () => {
    const p = compilePolicy('p', 3n, usd({ gpuHour: { default: '1' } }));
    expect(p.rates.gpuHour?.basis).toBe('Allocation');
    expect(p.priority).toBe(0);
    expect(p.rates.cpuCoreHourNano).toBe(0n);
  });

  it.each<[string, CostPolicySpec, string, PolicyCompileError['reason']]>([
    ['an unparsable rate', usd({ cpuCoreHour: '1.2.3' }), 'spec.rates.cpuCoreHour', 'invalid-rate'],
    ['a negative rate', usd({ ioGiB: '-1' }), 'spec.rates.ioGiB', 'invalid-rate'],
    [
      'an exponent',
      usd({ gpuHour: { default: '1e3' } }),
      'spec.rates.gpuHour.default',
      'invalid-rate',
    ],
    [
      'a bad GPU model rate',
      gpuModels({ model: 'a', rate: '1' }, { model: 'b', rate: 'x' }),
      'spec.rates.gpuHour.models[1].rate',
      'invalid-rate',
    ],
    [
      'too many fraction digits in a token rate',
      usd({ tokens: [{ model: 'm', inputPerMillion: '0.0000000001', outputPerMillion: '1' }] }),
      'spec.rates.tokens[0].inputPerMillion',
      'invalid-rate',
    ],
    [
      'a bad cache-read rate',
      usd({
        tokens: [
          { model: 'm', inputPerMillion: '1', outputPerMillion: '1', cacheReadPerMillion: '-1' },
        ],
      }),
      'spec.rates.tokens[0].cacheReadPerMillion',
      'invalid-rate',
    ],
    [
      'a long-context threshold of zero',
      usd({
        tokens: [
          {
            model: 'm',
            inputPerMillion: '1',
            outputPerMillion: '1',
            longContext: { aboveInputTokens: 0, inputPerMillion: '2', outputPerMillion: '2' },
          },
        ],
      }),
      'spec.rates.tokens[0].longContext.aboveInputTokens',
      'invalid-rate',
    ],
    [
      'a bad long-context cache-creation rate',
      usd({
        tokens: [
          {
            model: 'm',
            inputPerMillion: '1',
            outputPerMillion: '1',
            longContext: {
              aboveInputTokens: 10,
              inputPerMillion: '2',
              outputPerMillion: '2',
              cacheCreationPerMillion: '1,5',
            },
          },
        ],
      }),
      'spec.rates.tokens[0].longContext.cacheCreationPerMillion',
      'invalid-rate',
    ],
    [
      'a repeated tool',
      usd({ tools: repeated({ name: 'web_search', perCall: '1' }, { perCall: '2' }) }),
      'spec.rates.tools[1]',
      'duplicate-tool',
    ],
    [
      'a bad tool price',
      usd({ tools: [{ name: 't', perCall: '0.1.2' }] }),
      'spec.rates.tools[0].perCall',
      'invalid-rate',
    ],
    [
      'a repeated API host pattern',
      usd({ apis: repeated({ host: '*.example.com', perCall: '1' }, { perCall: '2' }) }),
      'spec.rates.apis[1]',
      'duplicate-host',
    ],
    ...['*', 'https://api.example.com', 'api.example.com:443', 'API.example.com', 'a.*.com'].map(
      (host): [string, CostPolicySpec, string, PolicyCompileError['reason']] => [
        `the API host ${host}`,
        usd({ apis: [{ host, perCall: '1' }] }),
        'spec.rates.apis[0].host',
        'invalid-host',
      ],
    ),
    [
      'a repeated token model',
      usd({
        tokens: repeated(
          { model: '*', inputPerMillion: '1', outputPerMillion: '1' },
          { inputPerMillion: '2', outputPerMillion: '2' },
        ),
      }),
      'spec.rates.tokens[1]',
      'duplicate-model',
    ],
    [
      'a repeated GPU model',
      gpuModels(...repeated({ model: 'a', rate: '1' }, { rate: '2' })),
      'spec.rates.gpuHour.models[1]',
      'duplicate-model',
    ],
    [
      'an unknown currency',
      { currency: 'XXQ', rates: { cpuCoreHour: '1' } },
      'spec.currency',
      'unknown-currency',
    ],
    [
      'a priority above 1000',
      { currency: 'USD', priority: 1001, rates: { cpuCoreHour: '1' } },
      'spec.priority',
      'invalid-priority',
    ],
    [
      'a fractional priority',
      { currency: 'USD', priority: 1.5, rates: { cpuCoreHour: '1' } },
      'spec.priority',
      'invalid-priority',
    ],
    [
      'In without values',
      {
        currency: 'USD',
        selector: { podSelector: { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] } },
        rates: { cpuCoreHour: '1' },
      },
      'spec.selector.podSelector.matchExpressions[0]',
      'invalid-selector',
    ],
    [
      'Exists with values',
      {
        currency: 'USD',
        selector: {
          namespaceSelector: {
            matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }],
          },
        },
        rates: { cpuCoreHour: '1' },
      },
      'spec.selector.namespaceSelector.matchExpressions[0]',
      'invalid-selector',
    ],
  ])('refuses %s with its path', (_name, spec, path, reason) => {
    const err = compileError(spec);
    expect(err.path).toBe(path);
    expect(err.reason).toBe(reason);
    expect(err.policy).toBe('bad');
    expect(err.generation).toBe(7n);
    expect(err.message).toContain(`"bad" generation 7: ${path}`);
  });

  it('keeps the money parse error as the cause', () => {
    const err = compileError(usd({ cpuCoreHour: '01' }));
    expect(err.cause).toBeInstanceOf(MoneyParseError);
    expect((err.cause as MoneyParseError).reason).toBe('leading-zero');
  });
});
