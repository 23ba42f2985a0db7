// Sessions that spend far more than their peers. A session lives minutes to hours, too short for
// a weekly rhythm of its own, so its baseline is the sessions of the same namespace that ended
// in the recent past (the caller's window, e.g. a day). Session costs are heavy-tailed (a
// log-normal fits agent traffic), so a median-and-MAD bar would page on every long but healthy
// session; the bar is instead a multiple of a high quantile of the peers' totals (by default 10 ×
// the 99th percentile), and never below the peers' median plus the minimum cost. It is robust as
// long as fewer than 1% of the peers are anomalous themselves. A running session is judged on its
// spend so far, so a loop is caught while it runs. Quantiles come from a linear-time selection
// over exact bigints, so thresholds over a million sessions stay cheap
// (test/bench/anomaly-replay.ts measures it).
import { selectInPlace } from './robust-stats.ts';

export interface SessionSpend {
  /** "namespace/session-id". */
  readonly key: string;
  readonly namespace: string;
  /** Spend so far, integer nano-units. */
  readonly nano: bigint;
}

export interface SessionDetectorConfig {
  /** Peer quantile the bar is built on, in permille (990 = the 99th percentile). */
  readonly quantilePermille: number;
  /** Multiple of that quantile, in tenths (100n = 10×). */
  readonly multipleTenths: bigint;
  readonly minCostNano: bigint;
  /** Peers needed for a bar; a namespace with fewer is left to the guards. */
  readonly minPeers: number;
}

export const DEFAULT_SESSION_DETECTOR: SessionDetectorConfig = {
  quantilePermille: 990,
  multipleTenths: 100n,
  minCostNano: 1_000_000_000n,
  minPeers: 50,
};

export interface SessionBar {
  readonly quantileNano: bigint;
  readonly medianNano: bigint;
  readonly thresholdNano: bigint;
}

/** The bar of each namespace from its peers' totals (the arrays are reordered in place). */
export function sessionBars(
  peerTotals: ReadonlyMap<string, bigint[]>,
  config: SessionDetectorConfig = DEFAULT_SESSION_DETECTOR,
): Map<string, SessionBar> {
  const bars = new Map<string, SessionBar>();
  for (const [namespace, totals] of peerTotals) {
    const n = totals.length;
    if (n < config.minPeers) continue;
    const q = selectInPlace(
      totals,
      Math.min(n - 1, Math.floor((n * config.quantilePermille) / 1000)),
    );
    const med = selectInPlace(totals, n >> 1);
    const byQuantile = (q * config.multipleTenths) / 10n;
    const byCost = med + config.minCostNano;
    bars.set(namespace, {
      quantileNano: q,
      medianNano: med,
      thresholdNano: byQuantile > byCost ? byQuantile : byCost,
    });
  }
  return bars;
}

export interface SessionVerdict {
  readonly key: string;
  readonly namespace: string;
  readonly observedNano: bigint;
  readonly thresholdNano: bigint;
  /** Spend over the peers' quantile, in hundredths (e.g. 1200n = 12 ×). */
  readonly timesQuantileHundredths: bigint;
}

/** The sessions above their namespace's bar, highest multiple first. */
export function detectSessions(
  sessions: readonly SessionSpend[],
  bars: ReadonlyMap<string, SessionBar>,
): SessionVerdict[] {
  const out: SessionVerdict[] = [];
  for (const s of sessions) {
    const bar = bars.get(s.namespace);
    if (bar === undefined || s.nano <= bar.thresholdNano) continue;
    out.push({
      key: s.key,
      namespace: s.namespace,
      observedNano: s.nano,
      thresholdNano: bar.thresholdNano,
      timesQuantileHundredths: (s.nano * 100n) / (bar.quantileNano > 0n ? bar.quantileNano : 1n),
    });
  }
  return out.sort((a, b) =>
    a.timesQuantileHundredths === b.timesQuantileHundredths
      ? a.key < b.key
        ? -1
        : 1
      : a.timesQuantileHundredths > b.timesQuantileHundredths
        ? -1
        : 1,
  );
}
