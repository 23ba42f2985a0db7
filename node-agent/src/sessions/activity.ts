// Activity of sessions in one pod: half-open [start, end) intervals in BigInt nanoseconds.
import type { SessionKeyString } from './session-id.ts';

export interface Interval {
  readonly start: bigint;
  readonly end: bigint;
}

function byStart(a: Interval, b: Interval): number {
  return a.start < b.start ? -1 : a.start > b.start ? 1 : 0;
}

/**
 * Sorted, disjoint union; empty intervals dropped and touching ones merged, so nested or
 * repeated spans of one session never count twice.
 */
export function unionIntervals(intervals: Iterable<Interval>): Interval[] {
  const sorted = [...intervals].filter((i) => i.end > i.start).sort(byStart);
  const out: Interval[] = [];
  for (const next of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && next.start <= last.end) {
      if (next.end > last.end) out[out.length - 1] = { start: last.start, end: next.end };
    } else {
      out.push(next);
    }
  }
  return out;
}

/** Intervals cut to [t0, t1); those outside disappear. */
export function clipIntervals(intervals: Iterable<Interval>, t0: bigint, t1: bigint): Interval[] {
  const out: Interval[] = [];
  for (const { start, end } of intervals) {
    const s = start > t0 ? start : t0;
    const e = end < t1 ? end : t1;
    if (e > s) out.push({ start: s, end: e });
  }
  return out;
}

export function totalLength(intervals: Iterable<Interval>): bigint {
  let sum = 0n;
  for (const i of intervals) sum += i.end - i.start;
  return sum;
}

/**
 * Per-session activity of one pod. Intervals are appended as spans arrive and merged lazily,
 * so memory follows the number of distinct busy stretches, not the number of spans.
 */
export class PodActivity {
  readonly #sessions = new Map<SessionKeyString, { intervals: Interval[]; merged: number }>();

  add(key: SessionKeyString, interval: Interval): void {
    if (interval.end <= interval.start) return;
    let entry = this.#sessions.get(key);
    if (entry === undefined) {
      entry = { intervals: [], merged: 0 };
      this.#sessions.set(key, entry);
    }
    entry.intervals.push(interval);
    // Re-merge when the list doubled since the last merge: amortised O(log n) per span.
    if (entry.intervals.length > 2 * entry.merged + 16) {
      entry.intervals = unionIntervals(entry.intervals);
      entry.merged = entry.intervals.length;
    }
  }

  /** Each session's union clipped to [t0, t1); sessions idle in the window are omitted. */
  window(t0: bigint, t1: bigint): Map<SessionKeyString, Interval[]> {
    const out = new Map<SessionKeyString, Interval[]>();
    for (const [key, entry] of this.#sessions) {
      const clipped = unionIntervals(clipIntervals(entry.intervals, t0, t1));
      if (clipped.length > 0) out.set(key, clipped);
    }
    return out;
  }

  /** Forgets activity before `t` (settled time). */
  pruneBefore(t: bigint): void {
    for (const [key, entry] of this.#sessions) {
      entry.intervals = clipIntervals(entry.intervals, t, entry.intervals.reduce(maxEnd, t));
      entry.merged = Math.min(entry.merged, entry.intervals.length);
      if (entry.intervals.length === 0) this.#sessions.delete(key);
    }
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }
}

function maxEnd(acc: bigint, i: Interval): bigint {
  return i.end > acc ? i.end : acc;
}
