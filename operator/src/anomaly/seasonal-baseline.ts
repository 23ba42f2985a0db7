// The expected spend of a stream over a window, from the same window in earlier weeks: the
// median of those sums (and of the sums one hour either side, for daylight saving and for a
// rhythm that drifts by an hour), with 1.4826 × MAD as the spread. Median and MAD rather than a
// mean and standard deviation because one past spike or loop must not raise the bar for the next
// one: the replay harness (test/bench/anomaly-replay.ts) measures this against a seasonal EWMA.
import { madSigma, median, medianAbsoluteDeviation } from './robust-stats.ts';
import { WEEK_HOURS, windowSum } from './hourly-series.ts';
import type { HourlySeries } from './hourly-series.ts';

export interface BaselineConfig {
  /** Earlier weeks sampled (e.g. 4). */
  readonly weeks: number;
  /** Hours either side of the same hour also sampled (e.g. 1). */
  readonly neighbourHours: number;
}

export interface Baseline {
  readonly expected: bigint;
  /** 1.4826 × MAD of the samples: a robust standard deviation, before any floor. */
  readonly spread: bigint;
  readonly samples: number;
}

/** The baseline of the `hours`-hour window ending with `lastHour`, from earlier weeks only. */
export function seasonalBaseline(
  series: HourlySeries,
  lastHour: number,
  hours: number,
  config: BaselineConfig,
): Baseline {
  const samples: bigint[] = [];
  for (let w = 1; w <= config.weeks; w++) {
    for (let d = -config.neighbourHours; d <= config.neighbourHours; d++) {
      const sum = windowSum(series, lastHour - w * WEEK_HOURS + d, hours);
      if (sum !== undefined) samples.push(sum);
    }
  }
  const expected = median(samples);
  return {
    expected,
    spread: madSigma(medianAbsoluteDeviation(samples, expected)),
    samples: samples.length,
  };
}
