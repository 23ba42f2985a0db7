import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addUsage, zeroUsage } from '../ledger/usage.ts';
import type { Usage } from '../ledger/usage.ts';
import { ArithmeticRangeError } from '../money/errors.ts';
import { parseMoney } from '../money/parse-decimal.ts';
import {
  BYTES_PER_GIB,
  CPU_NANOSECONDS_PER_CORE_HOUR,
  GPU_MICROSECONDS_PER_GPU_HOUR,
  MEMORY_BYTE_SECONDS_PER_GIB_HOUR,
} from '../units/constants.ts';
import type { CompiledRates } from './compile-policy.ts';
import {
  EXACT_COST_DENOMINATOR,
  PRICED_RESOURCES,
  exactCostNumerator,
  priceUsage,
} from './price-usage.ts';
import { gpuModelArb, loadSamples, ratesArb, usageArb } from './test-support.ts';

const samples = loadSamples();
function ratesOf(name: string): CompiledRates {
  const policy = samples.get(name);
  if (policy === undefined) throw new Error(`no sample ${name}`);
  return policy.rates;
}
const H100 = 'NVIDIA H100 80GB HBM3';

describe('priceUsage against hand-computed sample prices', () => {
  it('platform-default (USD): CPU, memory, I/O and network; no GPU rate', () => {
    const price = priceUsage(ratesOf('platform-default'), {
      cpuNs: CPU_NANOSECONDS_PER_CORE_HOUR, // one core-hour: exactly cpuCoreHour 0.0316
      memoryByteSeconds: MEMORY_BYTE_SECONDS_PER_GIB_HOUR, // one GiB-hour: 0.0042
      ioReadBytes: BYTES_PER_GIB, // 2 GiB of I/O at 0.0005
      ioWriteBytes: BYTES_PER_GIB,
      netRxBytes: BYTES_PER_GIB / 2n, // 1 GiB of traffic at 0.01
      netTxBytes: BYTES_PER_GIB / 2n,
      gpuAllocatedUs: GPU_MICROSECONDS_PER_GPU_HOUR, // no gpuHour rate: free
    });
    expect(price.byResource).toEqual({
      cpu: 31_600_000n,
      memory: 4_200_000n,
      gpu: 0n,
      io: 1_000_000n,
      network: 10_000_000n,
    });
    expect(price.totalNano).toBe(46_800_000n);
  });

  it('ml-research-gpu (EUR): GPU by model on the Allocation basis', () => {
    const rates = ratesOf('ml-research-gpu');
    const gpuHour = {
      ...zeroUsage(),
      gpuAllocatedUs: GPU_MICROSECONDS_PER_GPU_HOUR,
      gpuActiveUs: GPU_MICROSECONDS_PER_GPU_HOUR / 4n, // ignored on this basis
    };
    expect(priceUsage(rates, gpuHour, H100).byResource.gpu).toBe(3_850_000_000n);
    expect(priceUsage(rates, gpuHour, 'NVIDIA A100-SXM4-80GB').totalNano).toBe(2_400_000_000n);
    expect(priceUsage(rates, gpuHour, 'NVIDIA T4').totalNano).toBe(1_200_000_000n); // default
    expect(priceUsage(rates, gpuHour).totalNano).toBe(1_200_000_000n);
    // 15 minutes of an L4 at 0.68 per hour.
    const quarter = { ...zeroUsage(), gpuAllocatedUs: GPU_MICROSECONDS_PER_GPU_HOUR / 4n };
    expect(priceUsage(rates, quarter, 'NVIDIA L4').totalNano).toBe(170_000_000n);

    const mixed = priceUsage(
      rates,
      {
        cpuNs: 2n * CPU_NANOSECONDS_PER_CORE_HOUR, // 2 × 0.029
        memoryByteSeconds: 2n * MEMORY_BYTE_SECONDS_PER_GIB_HOUR, // 2 × 0.0039
        ioReadBytes: 10n * BYTES_PER_GIB, // no ioGiB rate: free
        ioWriteBytes: 0n,
        netRxBytes: BYTES_PER_GIB, // 0.008
        netTxBytes: 0n,
      },
      H100,
    );
    expect(mixed.byResource).toEqual({
      cpu: 58_000_000n,
      memory: 7_800_000n,
      gpu: 0n,
      io: 0n,
      network: 8_000_000n,
    });
  });

  it('agent-platform-sessions (USD): GPU on the Utilization basis, memory on memoryByteSeconds', () => {
    const rates = ratesOf('agent-platform-sessions');
    const price = priceUsage(
      rates,
      {
        ...zeroUsage(),
        memoryByteSeconds: MEMORY_BYTE_SECONDS_PER_GIB_HOUR,
        memoryRssByteSeconds: 100n * MEMORY_BYTE_SECONDS_PER_GIB_HOUR, // not priced
        gpuAllocatedUs: GPU_MICROSECONDS_PER_GPU_HOUR,
        gpuActiveUs: GPU_MICROSECONDS_PER_GPU_HOUR / 2n, // busy half the hour at 2.50
      },
      H100, // no models listed: the default rate
    );
    expect(price.byResource.gpu).toBe(1_250_000_000n);
    expect(price.byResource.memory).toBe(4_200_000n);
    expect(price.totalNano).toBe(1_254_200_000n);
    expect(priceUsage(rates, { ...zeroUsage(), gpuAllocatedUs: 5n }).totalNano).toBe(0n);
  });

  it('rounds each resource once, half-even, then adds', () => {
    const rates = ratesOf('platform-default');
    // 4.5e6 ns × 0.0316/core-hour = 39.5 nano → 40; 13.5e6 ns → 118.5 → 118.
    expect(priceUsage(rates, { ...zeroUsage(), cpuNs: 4_500_000n }).totalNano).toBe(40n);
    expect(priceUsage(rates, { ...zeroUsage(), cpuNs: 13_500_000n }).totalNano).toBe(118n);
    // 2^22 bytes × 0.01/GiB = 39062.5 → 39062. Rounding the entry as a whole would give 39181.
    const both = priceUsage(rates, { ...zeroUsage(), cpuNs: 13_500_000n, netRxBytes: 1n << 22n });
    expect(both.byResource.network).toBe(39_062n);
    expect(both.totalNano).toBe(39_180n);
    expect(priceUsage(rates, { ...zeroUsage(), cpuNs: 1n }).totalNano).toBe(0n);
  });

  it('prices large counters exactly', () => {
    const rate = parseMoney('999999999999999999.999999999');
    const rates = { ...ratesOf('platform-default'), cpuCoreHourNano: rate };
    const usage = { ...zeroUsage(), cpuNs: (1n << 64n) * CPU_NANOSECONDS_PER_CORE_HOUR };
    expect(priceUsage(rates, usage).totalNano).toBe((1n << 64n) * rate);
  });

  it('refuses negative usage', () => {
    const rates = ratesOf('platform-default');
    expect(() => priceUsage(rates, { ...zeroUsage(), netTxBytes: -1n })).toThrow(
      ArithmeticRangeError,
    );
    expect(() => priceUsage(rates, { ...zeroUsage(), gpuAllocatedUs: -1n })).toThrow(/gpuUs/);
  });
});

describe('priceUsage properties', () => {
  it('zero usage costs zero', () => {
    fc.assert(
      fc.property(ratesArb, gpuModelArb, (rates, model) => {
        const price = priceUsage(rates, zeroUsage(), model);
        expect(price.totalNano).toBe(0n);
        expect(exactCostNumerator(rates, zeroUsage(), model)).toBe(0n);
      }),
    );
  });

  it('total is Σ byResource and within 2.5 nano of the exact cost', () => {
    fc.assert(
      fc.property(ratesArb, usageArb, gpuModelArb, (rates, usage, model) => {
        const price = priceUsage(rates, usage, model);
        const sum = PRICED_RESOURCES.reduce((acc, r) => acc + price.byResource[r], 0n);
        expect(price.totalNano).toBe(sum);
        const error =
          2n * (price.totalNano * EXACT_COST_DENOMINATOR - exactCostNumerator(rates, usage, model));
        expect(error <= 5n * EXACT_COST_DENOMINATOR && error >= -5n * EXACT_COST_DENOMINATOR).toBe(
          true,
        );
      }),
    );
  });

  it('is monotone in usage, resource by resource', () => {
    fc.assert(
      fc.property(ratesArb, usageArb, usageArb, gpuModelArb, (rates, usage, extra, model) => {
        const before = priceUsage(rates, usage, model);
        const after = priceUsage(rates, addUsage(usage, extra), model);
        for (const r of PRICED_RESOURCES) {
          expect(after.byResource[r] >= before.byResource[r]).toBe(true);
        }
      }),
    );
  });

  it('prices whole rate units at exactly the rate', () => {
    fc.assert(
      fc.property(ratesArb, fc.bigInt({ min: 0n, max: 1000n }), (rates, k) => {
        const usage: Usage = {
          cpuNs: k * CPU_NANOSECONDS_PER_CORE_HOUR,
          memoryByteSeconds: k * MEMORY_BYTE_SECONDS_PER_GIB_HOUR,
          ioReadBytes: k * BYTES_PER_GIB,
          ioWriteBytes: 0n,
          netRxBytes: 0n,
          netTxBytes: k * BYTES_PER_GIB,
          gpuAllocatedUs: k * GPU_MICROSECONDS_PER_GPU_HOUR,
          gpuActiveUs: k * GPU_MICROSECONDS_PER_GPU_HOUR,
        };
        expect(priceUsage(rates, usage).byResource).toEqual({
          cpu: k * rates.cpuCoreHourNano,
          memory: k * rates.memoryGiBHourNano,
          gpu: k * (rates.gpuHour?.defaultNano ?? 0n),
          io: k * rates.ioGiBNano,
          network: k * rates.networkGiBNano,
        });
      }),
    );
  });
});
