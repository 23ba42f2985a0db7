// The rhythm-blind comparator: median and MAD of the same window over every hour of the past
// week, with the chosen detector's threshold, floors and minimum cost. It shows what knowing
// the daily and weekly rhythm buys.
import type { StreamDetectorConfig } from '../../../operator/src/anomaly/detect-streams.ts';
import { WEEK_HOURS, windowSum } from '../../../operator/src/anomaly/hourly-series.ts';
import type { HourlySeries } from '../../../operator/src/anomaly/hourly-series.ts';
import {
  madSigma,
  median,
  medianAbsoluteDeviation,
} from '../../../operator/src/anomaly/robust-stats.ts';

export function flatMedianJudge(
  config: StreamDetectorConfig,
): (stream: string, series: HourlySeries, lastHour: number, windowHours: number) => boolean {
  return (_stream, series, lastHour, windowHours) => {
    const x = windowSum(series, lastHour, windowHours);
    if (x === undefined) return false;
    const samples: bigint[] = [];
    for (let back = windowHours; back < windowHours + WEEK_HOURS; back++) {
      const s = windowSum(series, lastHour - back, windowHours);
      if (s !== undefined) samples.push(s);
    }
    if (samples.length < WEEK_HOURS) return false;
    const expected = median(samples);
    const floor = (expected * config.relativeFloorPermille) / 1000n;
    const spread = madSigma(medianAbsoluteDeviation(samples, expected));
    const sigma = [spread, floor, 1n].reduce((a, b) => (a > b ? a : b));
    const excess = x - expected;
    return excess >= config.minCostNano && excess * 10n > config.thresholdTenths * sigma;
  };
}
