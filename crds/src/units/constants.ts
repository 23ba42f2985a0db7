/**
 * Usage units and the rate units they are priced in, as BigInt so products with rates never
 * overflow or round. Each *_PER_* constant is how many usage units make one rate unit.
 */
export const NANOSECONDS_PER_SECOND = 1_000_000_000n;
export const MICROSECONDS_PER_SECOND = 1_000_000n;
export const SECONDS_PER_HOUR = 3_600n;

/** Binary GiB (2^30), as Kubernetes quantities like "1Gi" and cgroup byte counters use. */
export const BYTES_PER_GIB = 1n << 30n;

/** CPU usage (cgroup cpu.stat usage, in ns) per core-hour: 3.6e12. */
export const CPU_NANOSECONDS_PER_CORE_HOUR = NANOSECONDS_PER_SECOND * SECONDS_PER_HOUR;

/** Memory usage (byte-seconds) per GiB-hour: 2^30 × 3600. */
export const MEMORY_BYTE_SECONDS_PER_GIB_HOUR = BYTES_PER_GIB * SECONDS_PER_HOUR;

/** GPU time (µs) per GPU-hour: 3.6e9. */
export const GPU_MICROSECONDS_PER_GPU_HOUR = MICROSECONDS_PER_SECOND * SECONDS_PER_HOUR;

/** Tokens per rate unit; token prices are quoted per million. */
export const TOKENS_PER_MILLION = 1_000_000n;
