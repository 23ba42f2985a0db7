// The queue under the controller, with the client-go workqueue semantics the operator relies on:
// a key added while it waits is not queued twice; a key added while it is being processed is
// handed out again once done(), never to a second caller at the same time; failed keys come
// back after a per-key exponential backoff. The operator has one worker, so get() has at most
// one caller waiting.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { systemClock, type Clock, type Timer } from './clock.ts';
import { registerOnce } from './metrics.ts';

export interface WorkQueueOptions {
  /** Value of the `name` label on the workqueue_* metrics. */
  name: string;
  registry: Registry;
  clock?: Clock;
}

/** client-go's DefaultTypedControllerRateLimiter, per key: 5 ms·2^(n−1) for the n-th failure,
 * at most 1000 s. (Its overall 10 qps bucket never binds with one key and is left out.) */
export const BACKOFF_BASE_MS = 5;
export const BACKOFF_MAX_MS = 1_000_000;

// client-go: prometheus.ExponentialBuckets(10e-9, 10, 12), 10 ns … 1000 s.
const DURATION_BUCKETS = Array.from({ length: 12 }, (_, i) => 1e-8 * 10 ** i);

function queueMetrics(registry: Registry) {
  const registers = [registry];
  const labelNames = ['name'] as const;
  const histogram = (name: string, help: string) =>
    registerOnce(
      registry,
      name,
      () => new Histogram({ name, help, labelNames, buckets: DURATION_BUCKETS, registers }),
    );
  const counter = (name: string, help: string) =>
    registerOnce(registry, name, () => new Counter({ name, help, labelNames, registers }));
  return {
    depth: registerOnce(
      registry,
      'workqueue_depth',
      () =>
        new Gauge({
          name: 'workqueue_depth',
          help: 'Current depth of workqueue',
          labelNames,
          registers,
        }),
    ),
    adds: counter('workqueue_adds_total', 'Total number of adds handled by workqueue'),
    retries: counter('workqueue_retries_total', 'Total number of retries handled by workqueue'),
    queueDuration: histogram(
      'workqueue_queue_duration_seconds',
      'How long in seconds an item stays in workqueue before being requested',
    ),
    workDuration: histogram(
      'workqueue_work_duration_seconds',
      'How long in seconds processing an item from workqueue takes',
    ),
  };
}

export class WorkQueue {
  readonly #clock: Clock;
  readonly #metrics: ReturnType<typeof queueMetrics>;
  readonly #labels: { name: string };

  /** Keys waiting to be handed out, in order, with when each was added. */
  readonly #queued = new Map<string, number>();
  /** The key handed out by get() and not yet done(), with when processing started. */
  #processing: { key: string; since: number } | undefined;
  /** The key being processed was added again meanwhile: queue it once it is done. */
  #again: number | undefined;
  /** Delayed adds: one timer per key, the earliest wins. */
  readonly #waiting = new Map<string, { readyAt: number; timer: Timer }>();
  readonly #failures = new Map<string, number>();
  #getter: ((key: string | undefined) => void) | undefined;
  #drained: PromiseWithResolvers<void> | undefined;
  #shuttingDown = false;

  constructor(options: WorkQueueOptions) {
    this.#clock = options.clock ?? systemClock;
    this.#metrics = queueMetrics(options.registry);
    this.#labels = { name: options.name };
    // Export zeroes before the first add, as client-go does.
    this.#metrics.depth.set(this.#labels, 0);
    this.#metrics.adds.inc(this.#labels, 0);
    this.#metrics.retries.inc(this.#labels, 0);
  }

  /** Marks `key` as needing processing. A no-op for a key already waiting. */
  add(key: string): void {
    if (this.#shuttingDown || this.#queued.has(key)) return;
    if (this.#processing?.key === key) {
      if (this.#again !== undefined) return;
      this.#again = this.#clock.now();
    } else {
      this.#queued.set(key, this.#clock.now());
    }
    this.#metrics.adds.inc(this.#labels);
    this.#metrics.depth.inc(this.#labels);
    this.#dispatch();
  }

  /** Adds `key` after `ms`. With several pending delays for one key the earliest wins. */
  addAfter(key: string, ms: number): void {
    if (this.#shuttingDown) return;
    this.#metrics.retries.inc(this.#labels);
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const readyAt = this.#clock.now() + ms;
    const existing = this.#waiting.get(key);
    if (existing && existing.readyAt <= readyAt) return;
    existing?.timer.cancel();
    const timer = this.#clock.setTimeout(() => {
      this.#waiting.delete(key);
      this.add(key);
    }, ms);
    this.#waiting.set(key, { readyAt, timer });
  }

  /** Adds `key` after its backoff, which doubles with each failure until forget(key). */
  addRateLimited(key: string): void {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    this.addAfter(key, Math.min(BACKOFF_BASE_MS * 2 ** failures, BACKOFF_MAX_MS));
  }

  /** Resets the backoff of `key`; call it when processing succeeded. */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** Failures recorded for `key` since it was last forgotten. */
  numRequeues(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /**
   * Waits for the next key and marks it as being processed; the caller must call done(key).
   * Resolves to undefined once the queue is shut down and empty.
   */
  get(): Promise<string | undefined> {
    if (this.#getter !== undefined) throw new Error('WorkQueue.get: one caller at a time');
    return new Promise((resolve) => {
      this.#getter = resolve;
      this.#dispatch();
    });
  }

  /** Ends processing of `key`; a key added meanwhile goes back into the queue. */
  done(key: string): void {
    const processing = this.#processing;
    if (processing?.key !== key) return;
    this.#metrics.workDuration.observe(this.#labels, (this.#clock.now() - processing.since) / 1000);
    this.#processing = undefined;
    if (this.#again !== undefined) {
      this.#queued.set(key, this.#again);
      this.#again = undefined;
    }
    this.#drained?.resolve();
    this.#dispatch();
  }

  /** Keys waiting to be handed out (excluding delayed adds). */
  len(): number {
    return this.#queued.size;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /**
   * Stops accepting adds and drops delayed ones, then waits until the key being processed is
   * done. Keys already queued are still handed out; get() resolves to undefined once none are
   * left.
   */
  async shutDownWithDrain(): Promise<void> {
    this.#shuttingDown = true;
    for (const { timer } of this.#waiting.values()) timer.cancel();
    this.#waiting.clear();
    this.#dispatch();
    while (this.#processing !== undefined) {
      this.#drained = Promise.withResolvers();
      await this.#drained.promise;
    }
  }

  #dispatch(): void {
    const getter = this.#getter;
    if (getter === undefined || this.#processing !== undefined) return;
    const next = this.#queued.entries().next();
    if (next.done) {
      if (this.#shuttingDown) {
        this.#getter = undefined;
        getter(undefined);
      }
      return;
    }
    const [key, addedAt] = next.value;
    const now = this.#clock.now();
    this.#queued.delete(key);
    this.#metrics.depth.dec(this.#labels);
    this.#metrics.queueDuration.observe(this.#labels, (now - addedAt) / 1000);
    this.#processing = { key, since: now };
    this.#getter = undefined;
    getter(key);
  }
}
