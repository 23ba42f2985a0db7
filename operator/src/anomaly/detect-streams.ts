// Spend anomalies of streams with a weekly rhythm (a namespace, a tag value, a model). Each
// stream is checked over two windows ending with the last complete hour: one hour, for spikes
// and loops, and one day, for a slow ramp whose hourly excess hides in the hourly noise. A window
// is anomalous when its spend exceeds the seasonal baseline by more than `thresholdTenths`/10
// robust standard deviations AND by at least `minCostNano` (the minimum-cost filter: a stream
// that normally costs cents is not paged about a few more cents). The spread is floored at a
// share of the expected spend, since four quiet weeks can have a MAD of nearly nothing.
// All in bigint: the score is in hundredths of a standard deviation.
import { seasonalBaseline } from './seasonal-baseline.ts';
import type { BaselineConfig } from './seasonal-baseline.ts';
import { windowSum } from './hourly-series.ts';
import type { HourlySeries } from './hourly-series.ts';

export interface StreamDetectorConfig extends BaselineConfig {
  /** Windows checked, in hours (e.g. [1, 24]). */
  readonly windows: readonly number[];
  /** Standard deviations above the baseline, in tenths (60n = 6.0 σ). */
  readonly thresholdTenths: bigint;
  /** The spread is at least this share of the expected spend, in permille. */
  readonly relativeFloorPermille: bigint;
  /** Excess over the baseline below this many nano-units is never reported. */
  readonly minCostNano: bigint;
  /** Baseline samples needed for a verdict (fewer: the stream is too new to judge). */
  readonly minSamples: number;
}

export const DEFAULT_STREAM_DETECTOR: StreamDetectorConfig = {
  weeks: 4,
  neighbourHours: 1,
  windows: [1, 24],
  thresholdTenths: 60n,
  relativeFloorPermille: 100n,
  minCostNano: 2_000_000_000n,
  minSamples: 6,
};

export interface StreamVerdict {
  readonly stream: string;
  readonly windowHours: number;
  /** Epoch hour the window ends with (inclusive). */
  readonly lastHour: number;
  readonly observedNano: bigint;
  readonly expectedNano: bigint;
  /** The floored spread the score divides by. */
  readonly sigmaNano: bigint;
  /** (observed − expected) / sigma, in hundredths. */
  readonly scoreHundredths: bigint;
  readonly anomalous: boolean;
}

/** The verdict on one window of one stream, or undefined when it cannot be judged yet. */
export function judgeWindow(
  stream: string,
  series: HourlySeries,
  lastHour: number,
  windowHours: number,
  config: StreamDetectorConfig,
): StreamVerdict | undefined {
  const observed = windowSum(series, lastHour, windowHours);
  if (observed === undefined) return undefined;
  const base = seasonalBaseline(series, lastHour, windowHours, config);
  if (base.samples < config.minSamples) return undefined;
  const floor = (base.expected * config.relativeFloorPermille) / 1000n;
  const sigma = [base.spread, floor, 1n].reduce((a, b) => (a > b ? a : b));
  const excess = observed - base.expected;
  const anomalous = excess >= config.minCostNano && excess * 10n > config.thresholdTenths * sigma;
  return {
    stream,
    windowHours,
    lastHour,
    observedNano: observed,
    expectedNano: base.expected,
    sigmaNano: sigma,
    scoreHundredths: (excess * 100n) / sigma,
    anomalous,
  };
}

/** Every anomalous window of every stream at `lastHour`, highest score first. */
export function detectStreams(
  streams: ReadonlyMap<string, HourlySeries>,
  lastHour: number,
  config: StreamDetectorConfig = DEFAULT_STREAM_DETECTOR,
): StreamVerdict[] {
  const out: StreamVerdict[] = [];
  for (const [stream, series] of streams) {
    for (const w of config.windows) {
      const v = judgeWindow(stream, series, lastHour, w, config);
      if (v?.anomalous) out.push(v);
    }
  }
  return out.sort((a, b) =>
    a.scoreHundredths === b.scoreHundredths
      ? a.stream < b.stream
        ? -1
        : a.stream > b.stream
          ? 1
          : a.windowHours - b.windowHours
      : a.scoreHundredths > b.scoreHundredths
        ? -1
        : 1,
  );
}
