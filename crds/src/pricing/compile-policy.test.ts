import { describe, expect, it } from 'vitest';
import type { CostPolicySpec } from '../costpolicy/types.ts';
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

  it('defaults the GPU basis to Allocation and priority to 0', () => {
    const p = compilePolicy('p', 3n, { currency: 'USD', rates: { gpuHour: { default: '1' } } });
    expect(p.rates.gpuHour?.basis).toBe('Allocation');
    expect(p.priority).toBe(0);
    expect(p.rates.cpuCoreHourNano).toBe(0n);
  });

  it.each<[string, CostPolicySpec, string, PolicyCompileError['reason']]>([
    [
      'an unparsable rate',
      { currency: 'USD', rates: { cpuCoreHour: '1.2.3' } },
      'spec.rates.cpuCoreHour',
      'invalid-rate',
    ],
    [
      'a negative rate',
      { currency: 'USD', rates: { ioGiB: '-1' } },
      'spec.rates.ioGiB',
      'invalid-rate',
    ],
    [
      'an exponent',
      { currency: 'USD', rates: { gpuHour: { default: '1e3' } } },
      'spec.rates.gpuHour.default',
      'invalid-rate',
    ],
    [
      'a bad GPU model rate',
      {
        currency: 'USD',
        rates: {
          gpuHour: {
            default: '1',
            models: [
              { model: 'a', rate: '1' },
              { model: 'b', rate: 'x' },
            ],
          },
        },
      },
      'spec.rates.gpuHour.models[1].rate',
      'invalid-rate',
    ],
    [
      'too many fraction digits in a token rate',
      {
        currency: 'USD',
        rates: { tokens: [{ model: 'm', inputPerMillion: '0.0000000001', outputPerMillion: '1' }] },
      },
      'spec.rates.tokens[0].inputPerMillion',
      'invalid-rate',
    ],
    [
      'a repeated token model',
      {
        currency: 'USD',
        rates: {
          tokens: [
            { model: '*', inputPerMillion: '1', outputPerMillion: '1' },
            { model: '*', inputPerMillion: '2', outputPerMillion: '2' },
          ],
        },
      },
      'spec.rates.tokens[1]',
      'duplicate-model',
    ],
    [
      'a repeated GPU model',
      {
        currency: 'USD',
        rates: {
          gpuHour: {
            default: '1',
            models: [
              { model: 'a', rate: '1' },
              { model: 'a', rate: '2' },
            ],
          },
        },
      },
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
    const err = compileError({ currency: 'USD', rates: { cpuCoreHour: '01' } });
    expect(err.cause).toBeInstanceOf(MoneyParseError);
    expect((err.cause as MoneyParseError).reason).toBe('leading-zero');
  });
});
