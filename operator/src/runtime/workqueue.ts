// A keyed work queue with client-go workqueue semantics (the queue under controller-runtime):
// keys are de-duplicated, a key is never handed to two workers at once, and retries are
// rate limited per key and overall.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { systemClock, type Clock, type Timer } from './clock.ts';
import { registerOnce } from './metrics.ts';
import { defaultControllerRateLimiter, type RateLimiter } from './rate-limiter.ts';

export interface WorkQueueOptions {
  /** Value of the `name` label on the workqueue_* metrics. */
  name: string;
  registry: Registry;
  clock?: Clock;
  rateLimiter?: RateLimiter;
}

// client-go: prometheus.ExponentialBuckets(10e-9, 10, 12), 10 ns … 1000 s.
const DURATION_BUCKETS = Array.from({ length: 12 }, (_, i) => 1e-8 * 10 ** i);

/** What a registry's shared gauges read at scrape time. */
interface ProcessingSource {
  readonly name: string;
  unfinishedWorkSeconds(): number;
  longestRunningProcessorSeconds(): number;
}

interface QueueMetricSet {
  depth: Gauge<'name'>;
  adds: Counter<'name'>;
  queueDuration: Histogram<'name'>;
  workDuration: Histogram<'name'>;
  retries: Counter<'name'>;
  sources: Set<ProcessingSource>;
}

const metricSets = new WeakMap<Registry, QueueMetricSet>();

function queueMetrics(registry: Registry): QueueMetricSet {
  const existing = metricSets.get(registry);
  if (existing) return existing;
  const registers = [registry];
  const labelNames = ['name'] as const;
  const sources = new Set<ProcessingSource>();
  const set: QueueMetricSet = {
    sources,
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
    adds: registerOnce(
      registry,
      'workqueue_adds_total',
      () =>
        new Counter({
          name: 'workqueue_adds_total',
          help: 'Total number of adds handled by workqueue',
          labelNames,
          registers,
        }),
    ),
    queueDuration: registerOnce(
      registry,
      'workqueue_queue_duration_seconds',
      () =>
        new Histogram({
          name: 'workqueue_queue_duration_seconds',
          help: 'How long in seconds an item stays in workqueue before being requested',
          labelNames,
          buckets: DURATION_BUCKETS,
          registers,
        }),
    ),
    workDuration: registerOnce(
      registry,
      'workqueue_work_duration_seconds',
      () =>
        new Histogram({
          name: 'workqueue_work_duration_seconds',
          help: 'How long in seconds processing an item from workqueue takes',
          labelNames,
          buckets: DURATION_BUCKETS,
          registers,
        }),
    ),
    retries: registerOnce(
      registry,
      'workqueue_retries_total',
      () =>
        new Counter({
          name: 'workqueue_retries_total',
          help: 'Total number of retries handled by workqueue',
          labelNames,
          registers,
        }),
    ),
  };
  // Computed at scrape time instead of client-go's 500 ms update loop: no timer to stop.
  registerOnce(
    registry,
    'workqueue_unfinished_work_seconds',
    () =>
      new Gauge({
        name: 'workqueue_unfinished_work_seconds',
        help:
          'How many seconds of work has been done that is in progress and has not been observed ' +
          'by work_duration. Large values indicate stuck threads.',
        labelNames,
        registers,
        collect() {
          this.reset();
          for (const s of sources) this.set({ name: s.name }, s.unfinishedWorkSeconds());
        },
      }),
  );
  registerOnce(
    registry,
    'workqueue_longest_running_processor_seconds',
    () =>
      new Gauge({
        name: 'workqueue_longest_running_processor_seconds',
        help: 'How many seconds has the longest running processor for workqueue been running.',
        labelNames,
        registers,
        collect() {
          this.reset();
          for (const s of sources) this.set({ name: s.name }, s.longestRunningProcessorSeconds());
        },
      }),
  );
  metricSets.set(registry, set);
  return set;
}

export class WorkQueue implements ProcessingSource {
  readonly name: string;
  readonly #clock: Clock;
  readonly #limiter: RateLimiter;
  readonly #metrics: QueueMetricSet;
  readonly #labels: { name: string };

  /** Keys ready to be handed out, in order. Every key here is also in #dirty. */
  readonly #queue: string[] = [];
  /** Keys that need processing: queued, or added again while being processed. */
  readonly #dirty = new Set<string>();
  /** Keys handed out by get() and not yet done(), with when processing started. */
  readonly #processing = new Map<string, number>();
  /** When each dirty key was first added, for the queue-duration histogram. */
  readonly #addedAt = new Map<string, number>();
  /** Delayed adds: one timer per key, the earliest wins. */
  readonly #waiting = new Map<string, { readyAt: number; timer: Timer }>();
  /** Pending get() calls, oldest first. */
  readonly #getters: ((key: string | undefined) => void)[] = [];
  /** Settled when #processing becomes empty during a drain. */
  #drain: PromiseWithResolvers<void> | undefined;
  #shuttingDown = false;

  constructor(options: WorkQueueOptions) {
    this.name = options.name;
    this.#clock = options.clock ?? systemClock;
    this.#limiter = options.rateLimiter ?? defaultControllerRateLimiter(this.#clock);
    this.#metrics = queueMetrics(options.registry);
    this.#labels = { name: options.name };
    // Export zeroes before the first add, as client-go does.
    this.#metrics.depth.set(this.#labels, 0);
    this.#metrics.adds.inc(this.#labels, 0);
    this.#metrics.retries.inc(this.#labels, 0);
    this.#metrics.sources.add(this);
  }

  /** Marks `key` as needing processing. A no-op for a key already queued. */
  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#metrics.adds.inc(this.#labels);
    this.#metrics.depth.inc(this.#labels);
    if (!this.#addedAt.has(key)) this.#addedAt.set(key, this.#clock.now());
    this.#dirty.add(key);
    // A key being processed is re-queued by done(), so it never runs twice at once.
    if (this.#processing.has(key)) return;
    this.#queue.push(key);
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

  /** Adds `key` once the rate limiter allows: per-key backoff and the overall bucket. */
  addRateLimited(key: string): void {
    this.addAfter(key, this.#limiter.when(key));
  }

  /** Resets the backoff of `key`; call it when processing succeeded. */
  forget(key: string): void {
    this.#limiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.#limiter.numRequeues(key);
  }

  /**
   * Waits for the next key and marks it as being processed; the caller must call done(key).
   * Resolves to undefined once the queue is shut down and empty.
   */
  get(): Promise<string | undefined> {
    return new Promise((resolve) => {
      this.#getters.push(resolve);
      this.#dispatch();
    });
  }

  /** Ends processing of `key`; a key added meanwhile goes back into the queue. */
  done(key: string): void {
    const started = this.#processing.get(key);
    if (started === undefined) return;
    this.#metrics.workDuration.observe(this.#labels, (this.#clock.now() - started) / 1000);
    this.#processing.delete(key);
    if (this.#dirty.has(key)) {
      this.#queue.push(key);
      this.#dispatch();
    }
    if (this.#processing.size === 0) this.#drain?.resolve();
  }

  /** Keys waiting to be handed out (excluding delayed adds). */
  len(): number {
    return this.#queue.length;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /**
   * Stops accepting adds and drops delayed ones. Keys already queued are still handed out;
   * get() resolves to undefined once none are left.
   */
  shutDown(): void {
    this.#shuttingDown = true;
    for (const { timer } of this.#waiting.values()) timer.cancel();
    this.#waiting.clear();
    this.#metrics.sources.delete(this);
    this.#dispatch();
  }

  /** shutDown(), then waits until every key handed out has been marked done. */
  async shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.#processing.size === 0) return;
    this.#drain ??= Promise.withResolvers();
    await this.#drain.promise;
  }

  unfinishedWorkSeconds(): number {
    const now = this.#clock.now();
    let total = 0;
    for (const started of this.#processing.values()) total += now - started;
    return total / 1000;
  }

  longestRunningProcessorSeconds(): number {
    const now = this.#clock.now();
    let longest = 0;
    for (const started of this.#processing.values()) longest = Math.max(longest, now - started);
    return longest / 1000;
  }

  #dispatch(): void {
    while (this.#getters.length > 0 && this.#queue.length > 0) {
      const key = this.#queue.shift() as string;
      const getter = this.#getters.shift() as (key: string | undefined) => void;
      const now = this.#clock.now();
      this.#metrics.depth.dec(this.#labels);
      const addedAt = this.#addedAt.get(key);
      if (addedAt !== undefined) {
        this.#metrics.queueDuration.observe(this.#labels, (now - addedAt) / 1000);
        this.#addedAt.delete(key);
      }
      this.#processing.set(key, now);
      this.#dirty.delete(key);
      getter(key);
    }
    if (this.#shuttingDown && this.#queue.length === 0) {
      for (const getter of this.#getters.splice(0)) getter(undefined);
    }
  }
}
