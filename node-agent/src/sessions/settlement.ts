// Holds each pod's ticks until the watermark (default 2 ticks later), then splits them once into
// immutable results. Spans arriving for already settled time count for tokens only, as late.
import { PodActivity } from './activity.ts';
import type { SessionKeyString } from './session-id.ts';
import { splitTick } from './split.ts';
import type { ExclusiveSegment, SplitResult, TickWindow, UsageVector } from './split.ts';

export const DEFAULT_WATERMARK_TICKS = 2;

export interface PodTick<U> {
  readonly podUid: string;
  readonly window: TickWindow;
  /** Measured delta of the pod over the window. */
  readonly usage: U;
}

export interface SettledSplit<U> extends SplitResult<U> {
  readonly podUid: string;
  readonly window: TickWindow;
}

export type SpanTiming = 'on_time' | 'late' | 'partly_late';

/** A pod-scoped session seen on the pod from `atNs` on; null when the annotation was removed. */
export interface AnnotationObservation {
  readonly atNs: bigint;
  readonly key: SessionKeyString | null;
}

/** Exclusive segments of a window from the annotation history (each value applies from when seen). */
export function exclusiveSegments(
  history: readonly AnnotationObservation[],
  window: TickWindow,
): ExclusiveSegment[] {
  const out: ExclusiveSegment[] = [];
  let current: AnnotationObservation | undefined;
  const changes: AnnotationObservation[] = [];
  for (const obs of history) {
    if (obs.atNs <= window.t0) current = obs;
    else if (obs.atNs < window.t1) changes.push(obs);
  }
  let from = window.t0;
  let key = current?.key ?? null;
  for (const change of changes) {
    if (key !== null && change.atNs > from) out.push({ start: from, end: change.atNs, key });
    from = change.atNs;
    key = change.key;
  }
  if (key !== null && window.t1 > from) out.push({ start: from, end: window.t1, key });
  return out;
}

interface PodState<U> {
  readonly activity: PodActivity;
  readonly queue: PodTick<U>[];
  /** Sorted by time; older entries are dropped once settled past. */
  annotations: AnnotationObservation[];
  /** End of the last settled tick; activity before it no longer changes anything. */
  settledUntil: bigint | null;
  /** When the pod watch first showed the pod (it shows a pod on creation), if it came first;
   * a span that started earlier proves the pod older. */
  bornNs: bigint | null;
}

export class Settlement<U extends UsageVector<U>> {
  readonly watermarkTicks: number;
  readonly #pods = new Map<string, PodState<U>>();
  #lateSpans = 0;

  constructor(options: { watermarkTicks?: number } = {}) {
    this.watermarkTicks = options.watermarkTicks ?? DEFAULT_WATERMARK_TICKS;
  }

  get lateSpans(): number {
    return this.#lateSpans;
  }

  #pod(podUid: string, bornNs: bigint | null = null): PodState<U> {
    let state = this.#pods.get(podUid);
    if (state === undefined) {
      state = {
        activity: new PodActivity(),
        queue: [],
        annotations: [],
        settledUntil: null,
        bornNs,
      };
      this.#pods.set(podUid, state);
    }
    return state;
  }

  /** Adds a span's active time; the part before the pod's settled time is late and dropped. */
  recordSpan(podUid: string, key: SessionKeyString, startNs: bigint, endNs: bigint): SpanTiming {
    const state = this.#pod(podUid);
    if (state.bornNs !== null && startNs < state.bornNs) state.bornNs = startNs;
    const settled = state.settledUntil;
    if (settled !== null && startNs < settled) {
      this.#lateSpans++;
      if (endNs <= settled) return 'late';
      state.activity.add(key, { start: settled, end: endNs });
      return 'partly_late';
    }
    state.activity.add(key, { start: startNs, end: endNs });
    return 'on_time';
  }

  /**
   * The pod-scoped session annotation as seen at `atNs` (never applied retroactively). The first
   * sight of a pod is its birth: nothing of the pod can be measured before it, so an annotation
   * it was created with covers all of its usage.
   */
  observeAnnotation(podUid: string, atNs: bigint, key: SessionKeyString | null): void {
    const state = this.#pod(podUid, atNs);
    const last = state.annotations[state.annotations.length - 1];
    if (last !== undefined && last.key === key) return;
    const at = state.settledUntil !== null && atNs < state.settledUntil ? state.settledUntil : atNs;
    state.annotations.push({ atNs: at, key });
  }

  /** Queues a measured tick; returns the ticks that passed the watermark, split and frozen. */
  pushTick(tick: PodTick<U>): SettledSplit<U>[] {
    const state = this.#pod(tick.podUid);
    state.queue.push(tick);
    const out: SettledSplit<U>[] = [];
    while (state.queue.length > this.watermarkTicks) out.push(this.#settle(state));
    return out;
  }

  /** Settles every queued tick of a pod that is gone and forgets it. */
  flushPod(podUid: string): SettledSplit<U>[] {
    const state = this.#pods.get(podUid);
    if (state === undefined) return [];
    const out: SettledSplit<U>[] = [];
    while (state.queue.length > 0) out.push(this.#settle(state));
    this.#pods.delete(podUid);
    return out;
  }

  #settle(state: PodState<U>): SettledSplit<U> {
    const tick = state.queue.shift() as PodTick<U>;
    const { t1 } = tick.window;
    // A pod born mid-tick used its first tick's usage after its birth, not spread over the tick.
    const born = state.bornNs;
    const window =
      born !== null && born > tick.window.t0 && born < t1 ? { t0: born, t1 } : tick.window;
    const result = splitTick({
      window,
      usage: tick.usage,
      activity: state.activity.window(window.t0, t1),
      exclusive: exclusiveSegments(state.annotations, window),
    });
    state.settledUntil =
      state.settledUntil === null || t1 > state.settledUntil ? t1 : state.settledUntil;
    state.activity.pruneBefore(state.settledUntil);
    // Keep the observation in force at the settled time; older history is no longer needed.
    let keep = 0;
    for (let i = 0; i < state.annotations.length; i++) {
      if ((state.annotations[i] as AnnotationObservation).atNs <= state.settledUntil) keep = i;
    }
    if (keep > 0) state.annotations = state.annotations.slice(keep);
    const shares = new Map<SessionKeyString, U>();
    for (const [key, share] of result.shares) shares.set(key, Object.freeze({ ...share }));
    return Object.freeze({
      podUid: tick.podUid,
      window: tick.window,
      shares,
      unattributed: Object.freeze({ ...result.unattributed }),
      weights: result.weights,
    });
  }
}
