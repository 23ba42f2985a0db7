/**
 * Pricing of measured usage. Rounding rule (one rule, so totals are exact and auditable): each
 * resource's cost in an entry is computed as an exact rational (usage × rate / units per rate
 * unit) and rounded ONCE, half-even, to whole nano-units; an entry's total is the sum of those
 * five rounded amounts. Nothing else rounds before display.
 */
import type { Usage } from '../ledger/usage.ts';
import { nonNegative } from '../money/errors.ts';
import {
  BYTES_PER_GIB,
  CPU_NANOSECONDS_PER_CORE_HOUR,
  GPU_MICROSECONDS_PER_GPU_HOUR,
  MEMORY_BYTE_SECONDS_PER_GIB_HOUR,
} from '../units/constants.ts';
import { priceNano } from '../units/price.ts';
import type { CompiledRates } from './compile-policy.ts';

export const PRICED_RESOURCES = ['cpu', 'memory', 'gpu', 'io', 'network'] as const;
export type PricedResource = (typeof PRICED_RESOURCES)[number];

export interface UsagePrice {
  /** Σ byResource, nano-units of the policy's currency. */
  readonly totalNano: bigint;
  readonly byResource: Readonly<Record<PricedResource, bigint>>;
}

interface Term {
  readonly quantity: bigint;
  readonly rateNano: bigint;
  /** Usage units per rate unit, e.g. CPU_NANOSECONDS_PER_CORE_HOUR. */
  readonly perUnit: bigint;
}

function terms(
  rates: CompiledRates,
  usage: Usage,
  gpuModel: string | undefined,
): Record<PricedResource, Term> {
  const gpu = rates.gpuHour;
  const gpuUs =
    gpu?.basis === 'Utilization' ? (usage.gpuActiveUs ?? 0n) : (usage.gpuAllocatedUs ?? 0n);
  const gpuRate =
    gpu === null
      ? 0n
      : ((gpuModel === undefined ? undefined : gpu.models.get(gpuModel)) ?? gpu.defaultNano);
  return {
    cpu: {
      quantity: nonNegative('cpuNs', usage.cpuNs),
      rateNano: rates.cpuCoreHourNano,
      perUnit: CPU_NANOSECONDS_PER_CORE_HOUR,
    },
    memory: {
      quantity: nonNegative('memoryByteSeconds', usage.memoryByteSeconds),
      rateNano: rates.memoryGiBHourNano,
      perUnit: MEMORY_BYTE_SECONDS_PER_GIB_HOUR,
    },
    gpu: {
      quantity: nonNegative('gpuUs', gpuUs),
      rateNano: gpuRate,
      perUnit: GPU_MICROSECONDS_PER_GPU_HOUR,
    },
    io: {
      quantity:
        nonNegative('ioReadBytes', usage.ioReadBytes) +
        nonNegative('ioWriteBytes', usage.ioWriteBytes),
      rateNano: rates.ioGiBNano,
      perUnit: BYTES_PER_GIB,
    },
    network: {
      quantity:
        nonNegative('netRxBytes', usage.netRxBytes) + nonNegative('netTxBytes', usage.netTxBytes),
      rateNano: rates.networkGiBNano,
      perUnit: BYTES_PER_GIB,
    },
  };
}

/**
 * Cost of one entry's usage. GPU time is gpuAllocatedUs under the Allocation basis and
 * gpuActiveUs under Utilization, priced at the rate of `gpuModel` when the policy lists it and
 * at the default rate otherwise. Memory is priced on memoryByteSeconds.
 */
export function priceUsage(rates: CompiledRates, usage: Usage, gpuModel?: string): UsagePrice {
  const t = terms(rates, usage, gpuModel);
  const byResource = {} as Record<PricedResource, bigint>;
  let totalNano = 0n;
  for (const resource of PRICED_RESOURCES) {
    const { quantity, rateNano, perUnit } = t[resource];
    const nano = priceNano(quantity, rateNano, perUnit);
    byResource[resource] = nano;
    totalNano += nano;
  }
  return { totalNano, byResource };
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** A common denominator of every resource's units per rate unit (their lcm, 2^34·3^2·5^11). */
export const EXACT_COST_DENOMINATOR: bigint = [
  CPU_NANOSECONDS_PER_CORE_HOUR,
  MEMORY_BYTE_SECONDS_PER_GIB_HOUR,
  GPU_MICROSECONDS_PER_GPU_HOUR,
  BYTES_PER_GIB,
].reduce((l, d) => (l / gcd(l, d)) * d);

/**
 * The unrounded cost of `usage` in nano-units is exactCostNumerator(…) / EXACT_COST_DENOMINATOR.
 * Linear in usage, so the numerators of shares that partition a pod's usage add up to the pod's.
 */
export function exactCostNumerator(rates: CompiledRates, usage: Usage, gpuModel?: string): bigint {
  const t = terms(rates, usage, gpuModel);
  let numerator = 0n;
  for (const resource of PRICED_RESOURCES) {
    const { quantity, rateNano, perUnit } = t[resource];
    numerator += quantity * rateNano * (EXACT_COST_DENOMINATOR / perUnit);
  }
  return numerator;
}
