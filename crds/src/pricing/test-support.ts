// Shared by the pricing tests: the crds/samples policies, compiled, and usage arbitraries.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { parseAllDocuments } from 'yaml';
import type { CostPolicy } from '../costpolicy/types.ts';
import { REQUIRED_USAGE_KEYS } from '../ledger/usage.ts';
import type { Usage } from '../ledger/usage.ts';
import { compilePolicy } from './compile-policy.ts';
import type { CompiledPolicy, CompiledRates } from './compile-policy.ts';

const samplesDir = fileURLToPath(new URL('../../samples/', import.meta.url));

/** Every sample policy by name, compiled at generation 1. */
export function loadSamples(): Map<string, CompiledPolicy> {
  const out = new Map<string, CompiledPolicy>();
  for (const file of readdirSync(samplesDir).filter((f) => f.endsWith('.yaml'))) {
    for (const doc of parseAllDocuments(readFileSync(samplesDir + file, 'utf8'))) {
      const policy = doc.toJS() as CostPolicy;
      const name = policy.metadata.name as string;
      out.set(name, compilePolicy(name, 1n, policy.spec));
    }
  }
  return out;
}

const counter = fc.oneof(
  fc.bigInt({ min: 0n, max: 1n << 64n }),
  fc.bigInt({ min: 0n, max: 10n ** 6n }),
);

export const usageArb: fc.Arbitrary<Usage> = fc.record(
  {
    cpuNs: counter,
    memoryByteSeconds: counter,
    ioReadBytes: counter,
    ioWriteBytes: counter,
    netRxBytes: counter,
    netTxBytes: counter,
    gpuAllocatedUs: counter,
    gpuActiveUs: counter,
  },
  {
    requiredKeys: [...REQUIRED_USAGE_KEYS],
  },
);

const rate = fc.oneof(
  fc.constant(0n),
  fc.bigInt({ min: 1n, max: 10n ** 9n }),
  fc.bigInt({ min: 0n, max: 10n ** 27n - 1n }),
);

export const GPU_MODELS = ['NVIDIA H100 80GB HBM3', 'NVIDIA L4'];

export const ratesArb: fc.Arbitrary<CompiledRates> = fc.record({
  cpuCoreHourNano: rate,
  memoryGiBHourNano: rate,
  gpuHour: fc.option(
    fc.record({
      basis: fc.constantFrom('Allocation' as const, 'Utilization' as const),
      defaultNano: rate,
      models: fc
        .tuple(rate, rate)
        .map(([a, b]) => new Map(GPU_MODELS.map((m, i) => [m, i === 0 ? a : b]))),
    }),
    { nil: null },
  ),
  ioGiBNano: rate,
  networkGiBNano: rate,
  tokens: fc.constant(new Map()),
  tools: fc.constant(new Map()),
  apis: fc.constant({ exact: new Map(), subdomains: new Map() }),
});

export const gpuModelArb: fc.Arbitrary<string | undefined> = fc.constantFrom(
  undefined,
  'unlisted',
  ...GPU_MODELS,
);
