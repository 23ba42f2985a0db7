// Turns cumulative kernel counters into per-tick deltas. A counter is only ever compared with the
// previous reading of the same cgroup incarnation, so a reset can never yield a negative delta.

/** Why a delta was not a plain difference, recorded in the ledger for auditability. */
export type ResetReason = 'none' | 'new' | 'identity' | 'decrease';

export interface CounterReading {
  /** Identity of the cgroup incarnation (directory inode); a recreated cgroup changes it. */
  readonly identity: string;
  readonly value: bigint;
}

export interface CounterDelta {
  readonly delta: bigint;
  readonly reset: ResetReason;
}

/**
 * Usage since the previous reading. A counter seen for the first time, or whose cgroup was
 * recreated, or which went down, has been counting from zero since its (re)creation, so its whole
 * value is new usage.
 */
export function counterDelta(
  previous: CounterReading | undefined,
  current: CounterReading,
): CounterDelta {
  if (previous === undefined) return { delta: current.value, reset: 'new' };
  if (previous.identity !== current.identity) return { delta: current.value, reset: 'identity' };
  if (current.value < previous.value) return { delta: current.value, reset: 'decrease' };
  return { delta: current.value - previous.value, reset: 'none' };
}

/**
 * Integrates a gauge (bytes) over an interval in nanoseconds into byte-seconds, carrying the
 * sub-unit remainder (in byte-nanoseconds) forward so that nothing is lost to rounding over time.
 */
export function integrateGauge(
  bytes: bigint,
  intervalNs: bigint,
  carry: bigint,
): { byteSeconds: bigint; carry: bigint } {
  const total = bytes * intervalNs + carry;
  return { byteSeconds: total / 1_000_000_000n, carry: total % 1_000_000_000n };
}
