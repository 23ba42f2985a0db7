import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LedgerFormatError } from './errors.ts';
import {
  REQUIRED_USAGE_KEYS,
  USAGE_KEYS,
  addUsage,
  sumUsage,
  usageEquals,
  usageFromWire,
  usageToWire,
  zeroUsage,
} from './usage.ts';
import type { Usage } from './usage.ts';

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const usage: fc.Arbitrary<Usage> = fc.record(
  {
    cpuNs: u64,
    memoryByteSeconds: u64,
    memoryRssByteSeconds: u64,
    ioReadBytes: u64,
    ioWriteBytes: u64,
    netRxBytes: u64,
    netTxBytes: u64,
    gpuAllocatedUs: u64,
    gpuActiveUs: u64,
  },
  {
    requiredKeys: [...REQUIRED_USAGE_KEYS],
  },
);

describe('usage arithmetic', () => {
  it('round-trips through the wire form exactly, beyond 2^53', () => {
    fc.assert(
      fc.property(usage, (u) => {
        expect(usageFromWire(usageToWire(u))).toEqual(u);
      }),
    );
  });

  it('adds exactly, commutatively, with zero as identity', () => {
    fc.assert(
      fc.property(usage, usage, (a, b) => {
        const sum = addUsage(a, b);
        expect(usageEquals(sum, addUsage(b, a))).toBe(true);
        expect(usageEquals(addUsage(a, zeroUsage()), a)).toBe(true);
        for (const key of USAGE_KEYS) expect(sum[key] ?? 0n).toBe((a[key] ?? 0n) + (b[key] ?? 0n));
      }),
    );
  });

  it('sums a list and keeps optional keys only when present', () => {
    const a = { ...zeroUsage(), cpuNs: 1n };
    const b = { ...zeroUsage(), cpuNs: 2n, gpuActiveUs: 5n };
    expect(sumUsage([a, b])).toEqual({ ...zeroUsage(), cpuNs: 3n, gpuActiveUs: 5n });
    expect(sumUsage([])).toEqual(zeroUsage());
    expect('gpuActiveUs' in sumUsage([a])).toBe(false);
  });

  it('refuses negative usage on the way out and malformed strings on the way in', () => {
    expect(() => usageToWire({ ...zeroUsage(), cpuNs: -1n })).toThrow(RangeError);
    expect(() => usageFromWire({ ...usageToWire(zeroUsage()), cpuNs: '1.0' }, '$.x')).toThrow(
      LedgerFormatError,
    );
    expect(() => usageFromWire({ ...usageToWire(zeroUsage()), cpuNs: 1 })).toThrow(
      /invalid-integer/,
    );
  });
});
