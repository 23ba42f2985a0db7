export {
  BYTES_PER_GIB,
  CPU_NANOSECONDS_PER_CORE_HOUR,
  GPU_MICROSECONDS_PER_GPU_HOUR,
  MEMORY_BYTE_SECONDS_PER_GIB_HOUR,
  MICROSECONDS_PER_SECOND,
  NANOSECONDS_PER_SECOND,
  SECONDS_PER_HOUR,
  TOKENS_PER_MILLION,
} from './constants.ts';
export { formatCounter, parseCounter, U64_MAX } from './counter.ts';
export type { ParseCounterOptions } from './counter.ts';
export { CounterParseError } from './errors.ts';
export type { CounterParseReason } from './errors.ts';
export { priceNano } from './price.ts';
