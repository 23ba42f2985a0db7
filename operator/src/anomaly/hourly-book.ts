// Hourly spend per stream of each policy, kept in the operator for the detectors and the
// forecaster: the SpendHistorySource the store (issue 17) can implement instead. Bounded: a
// stream keeps the last MAX_HOURS hours (the forecaster's six weeks), session streams only
// SESSION_HOURS (a session is judged on its spend so far, never on weeks), and a policy at most
// MAX_STREAMS streams, the quietest dropped first. Fed only with what a committed status counts,
// so an entry reaches it once per operator process.
import { bucketByHour, HOUR_MS, type HourlySeries } from './hourly-series.ts';
import { FORECAST_HISTORY_HOURS } from '../status/compute.ts';

export const MAX_HOURS = FORECAST_HISTORY_HOURS;
export const SESSION_HOURS = 48;
export const MAX_STREAMS = 20_000;

/** Stream key → epoch hour → spend added, nano-units. */
export type HourlyAdds = Map<string, Map<number, bigint>>;

/** Where detectors and forecasts read hourly spend; the store can implement it. */
export interface SpendHistorySource {
  /** Hourly spend of one stream of `policy` over [fromHour, toHour]; undefined when not kept. */
  series(
    policy: string,
    stream: string,
    fromHour: number,
    toHour: number,
  ): HourlySeries | undefined;
  /** The streams kept for `policy` whose key starts with `prefix`. */
  streams(policy: string, prefix: string): string[];
}

export function addHourly(adds: HourlyAdds, stream: string, atMs: number, nano: bigint): void {
  const hour = Math.floor(atMs / HOUR_MS);
  let hours = adds.get(stream);
  if (hours === undefined) {
    hours = new Map();
    adds.set(stream, hours);
  }
  hours.set(hour, (hours.get(hour) ?? 0n) + nano);
}

/** One policy's part of the book. */
export interface BookView {
  readonly since: number;
  readonly streams: Map<string, Map<number, bigint>>;
}

export class HourlyBook implements SpendHistorySource {
  readonly #policies = new Map<string, Map<string, Map<number, bigint>>>();
  /** The first hour each policy was counted in by this process: earlier hours are unknown, not
   * hours without spend, so series start there. */
  readonly #since = new Map<string, number>();
  /** Per policy, the stored form (status.spendHistory) the book was last written as or read
   * from. */
  readonly #stored = new Map<string, string | undefined>();

  stored(policy: string): string | undefined {
    return this.#stored.get(policy);
  }

  markStored(policy: string, text: string | undefined): void {
    this.#stored.set(policy, text);
  }

  /** Adds a committed round's spend and forgets what fell out of the bounds as of `nowMs`. */
  add(policy: string, adds: HourlyAdds, nowMs: number): void {
    const nowHour = Math.floor(nowMs / HOUR_MS);
    if (!this.#since.has(policy)) this.#since.set(policy, nowHour);
    let streams = this.#policies.get(policy);
    if (streams === undefined) {
      streams = new Map();
      this.#policies.set(policy, streams);
    }
    for (const [stream, hours] of adds) {
      let kept = streams.get(stream);
      if (kept === undefined) {
        kept = new Map();
        streams.set(stream, kept);
      }
      for (const [h, nano] of hours) kept.set(h, (kept.get(h) ?? 0n) + nano);
    }
    this.#trim(streams, nowHour);
  }

  #trim(streams: Map<string, Map<number, bigint>>, nowHour: number): void {
    for (const [stream, hours] of streams) {
      const keep = stream.startsWith('session:') ? SESSION_HOURS : MAX_HOURS;
      for (const h of hours.keys()) if (h <= nowHour - keep) hours.delete(h);
      if (hours.size === 0) streams.delete(stream);
    }
    if (streams.size > MAX_STREAMS) {
      const total = (hours: Map<number, bigint>) => [...hours.values()].reduce((a, b) => a + b, 0n);
      const quietest = [...streams]
        .map(([k, hours]) => [k, total(hours)] as const)
        .sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
        .slice(0, streams.size - MAX_STREAMS);
      for (const [k] of quietest) streams.delete(k);
    }
  }

  /** What `add(policy, adds, nowMs)` would leave for `policy`, without changing the book: the
   * first hour counted and each stream's hours (the MAX_STREAMS bound aside). */
  view(policy: string, adds: HourlyAdds, nowMs: number): BookView {
    const nowHour = Math.floor(nowMs / HOUR_MS);
    const held = this.#policies.get(policy) ?? new Map<string, Map<number, bigint>>();
    const streams = new Map<string, Map<number, bigint>>();
    for (const key of new Set([...held.keys(), ...adds.keys()])) {
      const keep = key.startsWith('session:') ? SESSION_HOURS : MAX_HOURS;
      const hours = new Map<number, bigint>();
      for (const source of [held.get(key), adds.get(key)]) {
        for (const [h, nano] of source ?? []) {
          if (h > nowHour - keep) hours.set(h, (hours.get(h) ?? 0n) + nano);
        }
      }
      if (hours.size > 0) streams.set(key, hours);
    }
    return { since: this.#since.get(policy) ?? nowHour, streams };
  }

  /** Replaces what the book holds for `policy` (read back from its status after a restart). */
  restore(policy: string, view: BookView, nowMs: number): void {
    this.forget(policy);
    this.#since.set(policy, view.since);
    this.#policies.set(policy, view.streams);
    this.#trim(view.streams, Math.floor(nowMs / HOUR_MS));
  }

  forget(policy: string): void {
    this.#policies.delete(policy);
    this.#since.delete(policy);
    this.#stored.delete(policy);
  }

  policies(): string[] {
    return [...this.#policies.keys()];
  }

  series(
    policy: string,
    stream: string,
    fromHour: number,
    toHour: number,
  ): HourlySeries | undefined {
    const hours = this.#policies.get(policy)?.get(stream);
    const since = this.#since.get(policy);
    if (hours === undefined || since === undefined) return undefined;
    const points = [...hours].map(([h, nano]) => ({ atMs: h * HOUR_MS, nano }));
    return bucketByHour(points, Math.max(fromHour, since), toHour);
  }

  streams(policy: string, prefix: string): string[] {
    return [...(this.#policies.get(policy)?.keys() ?? [])].filter((k) => k.startsWith(prefix));
  }
}
