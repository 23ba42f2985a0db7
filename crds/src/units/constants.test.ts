import { describe, expect, it } from 'vitest';
import * as constants from './constants.ts';

describe('unit constants', () => {
  it('have the documented values, and there are no others', () => {
    expect({ ...constants }).toEqual({
      NANOSECONDS_PER_SECOND: 1_000_000_000n,
      MICROSECONDS_PER_SECOND: 1_000_000n,
      SECONDS_PER_HOUR: 3_600n,
      CPU_NANOSECONDS_PER_CORE_HOUR: 3_600_000_000_000n,
      BYTES_PER_GIB: 1_073_741_824n,
      MEMORY_BYTE_SECONDS_PER_GIB_HOUR: 3_865_470_566_400n,
      GPU_MICROSECONDS_PER_GPU_HOUR: 3_600_000_000n,
      TOKENS_PER_MILLION: 1_000_000n,
    });
  });
});
