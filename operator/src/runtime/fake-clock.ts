// A manually advanced clock for unit tests of time-dependent runtime code.
import type { Clock, Timer } from './clock.ts';

interface Pending {
  due: number;
  seq: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  #now = 0;
  #seq = 0;
  readonly #epochMs: number;
  readonly #pending = new Set<Pending>();

  /** `epoch` is the wall-clock time that monotonic 0 corresponds to. */
  constructor(epoch: Date = new Date('2026-01-01T00:00:00Z')) {
    this.#epochMs = epoch.getTime();
  }

  now(): number {
    return this.#now;
  }

  date(): Date {
    return new Date(this.#epochMs + this.#now);
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const entry: Pending = { due: this.#now + Math.max(0, ms), seq: this.#seq++, fn };
    this.#pending.add(entry);
    return { cancel: () => this.#pending.delete(entry) };
  }

  /** Number of timers not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.#pending.size;
  }

  /**
   * Moves time forward by `ms`, firing due timers in order. Pending promise callbacks run between
   * timers, so async code reacting to one timer can schedule the next before time moves on.
   */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await flushMicrotasks();
    for (;;) {
      const next = this.#earliest();
      if (next === undefined || next.due > target) break;
      this.#pending.delete(next);
      this.#now = next.due;
      next.fn();
      await flushMicrotasks();
    }
    this.#now = target;
  }

  #earliest(): Pending | undefined {
    let best: Pending | undefined;
    for (const p of this.#pending) {
      if (!best || p.due < best.due || (p.due === best.due && p.seq < best.seq)) best = p;
    }
    return best;
  }
}

/** Lets already-resolved promise chains run to completion. */
export function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
