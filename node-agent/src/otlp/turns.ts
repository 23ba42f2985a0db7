// Runs CPU-heavy jobs (decoding or ingesting one export request) in turns of the event loop of
// at most `budgetMs` each (the last job of a turn may overrun it). Node polls for I/O and runs
// timers between two turns, so the agent's heartbeat, ticks and scrapes go on during an OTLP
// flood instead of waiting behind every request that finished reading in the same poll
// (measured in the README, Benchmarks: health-under-flood).
import { TimeSlice } from '../runtime/time-slice.ts';

export const TURN_BUDGET_MS = 50;

export class TurnQueue {
  readonly #jobs: (() => void)[] = [];
  readonly #budgetMs: number;
  #scheduled = false;

  constructor(budgetMs: number = TURN_BUDGET_MS) {
    this.#budgetMs = budgetMs;
  }

  run<T>(job: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#jobs.push(() => {
        try {
          resolve(job());
        } catch (err) {
          reject(err as Error);
        }
      });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#jobs.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      const slice = new TimeSlice(this.#budgetMs);
      do this.#jobs.shift()?.();
      while (this.#jobs.length > 0 && !slice.spent());
      this.#schedule();
    });
  }
}
