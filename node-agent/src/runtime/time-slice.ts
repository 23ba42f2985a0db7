// Long synchronous work (a tick's reads, sealing a batch) returns to the event loop once it has
// run for a slice's budget, so a scrape or a span that arrives meanwhile waits for at most about
// one slice. Returning only when the budget is spent, not every N items, keeps the returns few:
// each costs a turn of the loop.
import { setImmediate as nextTurn } from 'node:timers/promises';

/** Synchronous CPU a tick or a batch runs before it lets waiting requests in, milliseconds. */
export const SLICE_BUDGET_MS = 5;

export class TimeSlice {
  readonly #budgetMs: number;
  #start = performance.now();

  constructor(budgetMs: number = SLICE_BUDGET_MS) {
    this.#budgetMs = budgetMs;
  }

  /** Whether this slice's budget is spent; the caller then awaits {@link next}. */
  spent(): boolean {
    return performance.now() - this.#start >= this.#budgetMs;
  }

  /** Lets the event loop run what is waiting, then starts the next slice. */
  async next(): Promise<void> {
    await nextTurn();
    this.#start = performance.now();
  }
}
