import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ArithmeticRangeError } from '../money/errors.ts';
import { formatMoney } from '../money/format-decimal.ts';
import { parseMoney } from '../money/parse-decimal.ts';
import {
  BYTES_PER_GIB,
  CPU_NANOSECONDS_PER_CORE_HOUR,
  GPU_MICROSECONDS_PER_GPU_HOUR,
  MEMORY_BYTE_SECONDS_PER_GIB_HOUR,
  TOKENS_PER_MILLION,
} from './constants.ts';
import { priceNano } from './price.ts';

describe('priceNano', () => {
  it('prices whole rate units exactly', () => {
    const rate = parseMoney('0.031611');
    expect(priceNano(CPU_NANOSECONDS_PER_CORE_HOUR * 2n, rate, CPU_NANOSECONDS_PER_CORE_HOUR)).toBe(
      2n * rate,
    );
    expect(
      priceNano(
        MEMORY_BYTE_SECONDS_PER_GIB_HOUR,
        parseMoney('0.004237'),
        MEMORY_BYTE_SECONDS_PER_GIB_HOUR,
      ),
    ).toBe(4_237_000n);
    expect(
      formatMoney(
        priceNano(
          GPU_MICROSECONDS_PER_GPU_HOUR / 2n,
          parseMoney('2.48'),
          GPU_MICROSECONDS_PER_GPU_HOUR,
        ),
      ),
    ).toBe('1.24');
    expect(formatMoney(priceNano(1_234_567n, parseMoney('3'), TOKENS_PER_MILLION))).toBe(
      '3.703701',
    );
    expect(formatMoney(priceNano(10n * BYTES_PER_GIB, parseMoney('0.09'), BYTES_PER_GIB))).toBe(
      '0.9',
    );
  });

  it('prices tiny per-unit rates: 0.000000021 per token', () => {
    expect(priceNano(1n, parseMoney('0.000000021'), 1n)).toBe(21n);
    expect(priceNano(1_000_000n, parseMoney('0.000000021'), 1n)).toBe(21_000_000n);
  });

  it('rounds sub-nano results half-even', () => {
    // 1 ns of CPU at 1.8 per core-hour = 0.0005 nano → 0; 3 core-hour-halves at 1 nano → 1.5 → 2.
    expect(priceNano(1n, parseMoney('1.8'), CPU_NANOSECONDS_PER_CORE_HOUR)).toBe(0n);
    expect(priceNano(3n, 1n, 2n)).toBe(2n);
    expect(priceNano(5n, 1n, 2n)).toBe(2n);
    expect(priceNano(0n, parseMoney('100'), CPU_NANOSECONDS_PER_CORE_HOUR)).toBe(0n);
  });

  it('handles counters beyond 2^64', () => {
    const quantity = (1n << 64n) * CPU_NANOSECONDS_PER_CORE_HOUR;
    expect(priceNano(quantity, 7n, CPU_NANOSECONDS_PER_CORE_HOUR)).toBe(7n << 64n);
  });

  it('is additive within the rounding of each part', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 1n << 70n }),
        fc.bigInt({ min: 0n, max: 1n << 70n }),
        fc.bigInt({ min: 0n, max: 10n ** 15n }),
        fc.constantFrom(
          CPU_NANOSECONDS_PER_CORE_HOUR,
          MEMORY_BYTE_SECONDS_PER_GIB_HOUR,
          TOKENS_PER_MILLION,
          1n,
        ),
        (q1, q2, rate, per) => {
          const whole = priceNano(q1 + q2, rate, per);
          const parts = priceNano(q1, rate, per) + priceNano(q2, rate, per);
          expect(whole - parts >= -1n && whole - parts <= 1n).toBe(true);
        },
      ),
    );
  });

  it('refuses negative usage or rates and a non-positive unit', () => {
    expect(() => priceNano(-1n, 1n, 1n)).toThrow(ArithmeticRangeError);
    expect(() => priceNano(1n, -1n, 1n)).toThrow(/rateNanoPerUnit must be non-negative/);
    expect(() => priceNano(1n, 1n, 0n)).toThrow(/quantityPerUnit must be positive/);
  });
});
