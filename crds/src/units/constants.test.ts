import { describe, expect, it } from 'vitest';
import {
  BYTES_PER_GIB,
  CPU_NANOSECONDS_PER_CORE_HOUR,
  GPU_MICROSECONDS_PER_GPU_HOUR,
  MEMORY_BYTE_SECONDS_PER_GIB_HOUR,
  TOKENS_PER_MILLION,
} from './constants.ts';

describe('unit constants', () => {
  it('have the documented values', () => {
    expect(CPU_NANOSECONDS_PER_CORE_HOUR).toBe(3_600_000_000_000n);
    expect(BYTES_PER_GIB).toBe(1_073_741_824n);
    expect(MEMORY_BYTE_SECONDS_PER_GIB_HOUR).toBe(3_865_470_566_400n);
    expect(GPU_MICROSECONDS_PER_GPU_HOUR).toBe(3_600_000_000n);
    expect(TOKENS_PER_MILLION).toBe(1_000_000n);
  });
});
