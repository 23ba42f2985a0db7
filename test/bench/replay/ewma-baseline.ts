// The comparator the replay measures the median-and-MAD baseline against: a seasonal EWMA (one
// level and one mean absolute deviation per hour of the week, each slot updated once a week with
// weight 1/4, i.e. about four weeks of memory), judged with the same threshold, floors and
// minimum cost as the chosen detector. It lives with the bench because only the bench runs it.
import type { StreamDetectorConfig } from '../../../operator/src/anomaly/detect-streams.ts';
import { WEEK_HOURS, windowSum } from '../../../operator/src/anomaly/hourly-series.ts';
import type { HourlySeries } from '../../../operator/src/anomaly/hourly-series.ts';

interface Slot {
  level: bigint;
  dev: bigint;
  seen: number;
}

/** A stateful judge: call it for each stream and window with hours in increasing order. */
export function seasonalEwmaJudge(
  config: StreamDetectorConfig,
): (stream: string, series: HourlySeries, lastHour: number, windowHours: number) => boolean {
  const slots = new Map<string, Slot>();
  return (stream, series, lastHour, windowHours) => {
    const x = windowSum(series, lastHour, windowHours);
    if (x === undefined) return false;
    const key = `${stream}/${windowHours}/${((lastHour % WEEK_HOURS) + WEEK_HOURS) % WEEK_HOURS}`;
    const slot = slots.get(key);
    if (slot === undefined) {
      slots.set(key, { level: x, dev: 0n, seen: 1 });
      return false;
    }
    const floor = (slot.level * config.relativeFloorPermille) / 1000n;
    // 1.2533 × mean absolute deviation estimates the standard deviation of normal data.
    const spread = (slot.dev * 12_533n) / 10_000n;
    const sigma = [spread, floor, 1n].reduce((a, b) => (a > b ? a : b));
    const excess = x - slot.level;
    const judged = slot.seen * (2 * config.neighbourHours + 1) >= config.minSamples;
    const anomalous =
      judged && excess >= config.minCostNano && excess * 10n > config.thresholdTenths * sigma;
    const abs = excess < 0n ? -excess : excess;
    slot.level += excess / 4n;
    slot.dev += (abs - slot.dev) / 4n;
    slot.seen++;
    return anomalous;
  };
}
