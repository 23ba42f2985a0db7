// Runs CPU-heavy jobs (decoding or ingesting one export request) in turns of the event loop of
// at most `budgetMs` each. A job is a sequence of steps (a generator that yields every
// STEP_SPANS spans, steps.ts), so a turn ends within one step of its budget however large the request:
// Node polls for I/O and runs timers between two turns, and the agent's heartbeat, health
// probes, ticks and scrapes go on during an OTLP flood (measured in PERFORMANCE.md and the
// README, Benchmarks: health-under-flood). Jobs run one after another, in order: a job's steps
// never interleave with another job's.
import { TimeSlice } from '../runtime/time-slice.ts';
import type { Steps } from './steps.ts';

export const TURN_BUDGET_MS = 50;

interface Job {
  readonly steps: Steps<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: Error) => void;
}

export class TurnQueue {
  readonly #jobs: Job[] = [];
  readonly #budgetMs: number;
  #scheduled = false;

  constructor(budgetMs: number = TURN_BUDGET_MS) {
    this.#budgetMs = budgetMs;
  }

  run<T>(steps: Steps<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#jobs.push({ steps, resolve: resolve as (value: unknown) => void, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#jobs.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      const slice = new TimeSlice(this.#budgetMs);
      do this.#step();
      while (this.#jobs.length > 0 && !slice.spent());
      this.#schedule();
    });
  }

  /** One step of the oldest job; a job that returns or throws leaves the queue. */
  #step(): void {
    const job = this.#jobs[0];
    if (job === undefined) return;
    try {
      const step = job.steps.next();
      if (step.done !== true) return;
      this.#jobs.shift();
      job.resolve(step.value);
    } catch (err) {
      this.#jobs.shift();
      job.reject(err as Error);
    }
  }
}
