// What /readyz checks. Each check can fail, and each failure means the agent cannot do its job
// now: it does not know this node's pods yet, it cannot write its ledger, or it has not written
// a tick lately. A not-ready agent is taken out of the node-local OTLP Service, so apps' span
// exporters retry rather than hand spans to an agent that cannot record them.

export interface ReadinessSources {
  /** True once the first list of this node's pods has been applied. */
  readonly podWatchSynced: () => boolean;
  /** True while the ledger is open and no failed fsync has made it unusable. */
  readonly ledgerWritable: () => boolean;
  /** Wall-clock ns at which the last successful tick ended; undefined before the first. */
  readonly lastTickEndNs: () => bigint | undefined;
  readonly nowNs: () => bigint;
  /** How long without a successful tick before the agent is not ready. */
  readonly tickStaleNs: bigint;
}

export type ReadinessChecks = Readonly<Record<string, () => boolean>>;

/** Three ticks, and never less than 30 s, so one slow tick on a busy node does not flap. */
export function tickStaleNs(tickMs: number): bigint {
  return BigInt(Math.max(3 * tickMs, 30_000)) * 1_000_000n;
}

export function readinessChecks(sources: ReadinessSources): ReadinessChecks {
  return {
    'pod-watch-synced': sources.podWatchSynced,
    'ledger-writable': sources.ledgerWritable,
    'tick-recent': () => {
      const last = sources.lastTickEndNs();
      return last !== undefined && sources.nowNs() - last <= sources.tickStaleNs;
    },
  };
}
