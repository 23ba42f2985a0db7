// A small controller loop shaped like controller-runtime's reconcileHandler: workers pull keys
// from a WorkQueue, reconcile them one at a time per key, and map the outcome to the queue.
import { objectKey, type Informer } from '@agentmeter/kube-client';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { systemClock, type Clock, type Timer } from './clock.ts';
import { registerOnce } from './metrics.ts';
import { WorkQueue } from './workqueue.ts';

/** What a reconcile may ask for; returning nothing means "done until the next change". */
export interface ReconcileResult {
  /** Reconcile again after this many milliseconds (drift correction, period ends). */
  requeueAfter?: number;
}

export type Reconciler = (key: string) => Promise<ReconcileResult> | Promise<void>;

/** An error that retrying cannot fix (e.g. an invalid spec): logged, not requeued. */
export class TerminalError extends Error {
  override readonly name = 'TerminalError';
}

export interface ControllerOptions {
  /** Value of the `controller` label and the work queue's `name` label. */
  name: string;
  reconcile: Reconciler;
  registry: Registry;
  logger: Logger;
  /** Concurrent reconciles of different keys (MaxConcurrentReconciles); default 1. */
  workers?: number;
  /** Re-enqueue every key from `keys()` this often; covers missed or stalled watches. */
  resync?: { intervalMs: number; keys: () => Iterable<string> };
  clock?: Clock;
  /** Defaults to a WorkQueue named after the controller on the same registry and clock. */
  queue?: WorkQueue;
}

// controller-runtime's reconcile_time_seconds buckets.
const RECONCILE_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9,
  1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];

const RESULTS = ['success', 'error', 'requeue_after'] as const;

function controllerMetrics(registry: Registry) {
  const registers = [registry];
  const labelNames = ['controller'] as const;
  return {
    total: registerOnce(
      registry,
      'controller_runtime_reconcile_total',
      () =>
        new Counter({
          name: 'controller_runtime_reconcile_total',
          help: 'Total number of reconciliations per controller',
          labelNames: ['controller', 'result'] as const,
          registers,
        }),
    ),
    errors: registerOnce(
      registry,
      'controller_runtime_reconcile_errors_total',
      () =>
        new Counter({
          name: 'controller_runtime_reconcile_errors_total',
          help: 'Total number of reconciliation errors per controller',
          labelNames,
          registers,
        }),
    ),
    terminalErrors: registerOnce(
      registry,
      'controller_runtime_terminal_reconcile_errors_total',
      () =>
        new Counter({
          name: 'controller_runtime_terminal_reconcile_errors_total',
          help: 'Total number of terminal reconciliation errors per controller',
          labelNames,
          registers,
        }),
    ),
    time: registerOnce(
      registry,
      'controller_runtime_reconcile_time_seconds',
      () =>
        new Histogram({
          name: 'controller_runtime_reconcile_time_seconds',
          help: 'Length of time per reconciliation per controller',
          labelNames,
          buckets: RECONCILE_BUCKETS,
          registers,
        }),
    ),
    activeWorkers: registerOnce(
      registry,
      'controller_runtime_active_workers',
      () =>
        new Gauge({
          name: 'controller_runtime_active_workers',
          help: 'Number of currently used workers per controller',
          labelNames,
          registers,
        }),
    ),
    maxConcurrent: registerOnce(
      registry,
      'controller_runtime_max_concurrent_reconciles',
      () =>
        new Gauge({
          name: 'controller_runtime_max_concurrent_reconciles',
          help: 'Maximum number of concurrent reconciles per controller',
          labelNames,
          registers,
        }),
    ),
  };
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  readonly #reconcile: Reconciler;
  readonly #logger: Logger;
  readonly #workers: number;
  readonly #resync: ControllerOptions['resync'];
  readonly #clock: Clock;
  readonly #metrics: ReturnType<typeof controllerMetrics>;
  readonly #labels: { controller: string };
  #resyncTimer: Timer | undefined;
  #running: Promise<void> | undefined;

  constructor(options: ControllerOptions) {
    this.name = options.name;
    this.#reconcile = options.reconcile;
    this.#logger = options.logger.child({ controller: options.name });
    this.#workers = options.workers ?? 1;
    if (!Number.isInteger(this.#workers) || this.#workers < 1) {
      throw new RangeError(`controller ${options.name}: workers must be a positive integer`);
    }
    this.#resync = options.resync;
    this.#clock = options.clock ?? systemClock;
    this.queue =
      options.queue ??
      new WorkQueue({ name: options.name, registry: options.registry, clock: this.#clock });
    this.#metrics = controllerMetrics(options.registry);
    this.#labels = { controller: options.name };
    for (const result of RESULTS) this.#metrics.total.inc({ ...this.#labels, result }, 0);
    this.#metrics.errors.inc(this.#labels, 0);
    this.#metrics.terminalErrors.inc(this.#labels, 0);
    this.#metrics.activeWorkers.set(this.#labels, 0);
    this.#metrics.maxConcurrent.set(this.#labels, this.#workers);
  }

  /** Queues `key` for reconciliation (from informer callbacks, mappers, timers). */
  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** Starts the workers and resync; resolves once stop() has drained them. */
  start(): Promise<void> {
    if (this.#running) return this.#running;
    this.#logger.info({ workers: this.#workers }, 'starting controller');
    this.#scheduleResync();
    const workers = Array.from({ length: this.#workers }, () => this.#work());
    this.#running = Promise.all(workers).then(() => undefined);
    return this.#running;
  }

  /** Stops taking keys, lets running reconciles finish, and waits for the workers to exit. */
  async stop(): Promise<void> {
    this.#resyncTimer?.cancel();
    this.#resyncTimer = undefined;
    await this.queue.shutDownWithDrain();
    await this.#running;
    this.#logger.info('controller stopped');
  }

  #scheduleResync(): void {
    const resync = this.#resync;
    if (!resync || this.queue.shuttingDown) return;
    this.#resyncTimer = this.#clock.setTimeout(() => {
      try {
        for (const key of resync.keys()) this.queue.add(key);
      } catch (err) {
        this.#logger.error({ err }, 'listing keys for resync failed');
      }
      this.#scheduleResync();
    }, resync.intervalMs);
  }

  async #work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        await this.#handle(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  async #handle(key: string): Promise<void> {
    const started = this.#clock.now();
    this.#metrics.activeWorkers.inc(this.#labels);
    let outcome: { ok: true; requeueAfter: number } | { ok: false; error: unknown };
    try {
      const result = await this.#reconcile(key);
      outcome = { ok: true, requeueAfter: result ? (result.requeueAfter ?? 0) : 0 };
    } catch (error) {
      outcome = { ok: false, error };
    } finally {
      this.#metrics.activeWorkers.dec(this.#labels);
      this.#metrics.time.observe(this.#labels, (this.#clock.now() - started) / 1000);
    }

    if (!outcome.ok) {
      const err = outcome.error;
      this.#metrics.errors.inc(this.#labels);
      this.#metrics.total.inc({ ...this.#labels, result: 'error' });
      if (err instanceof TerminalError) {
        this.#metrics.terminalErrors.inc(this.#labels);
        this.queue.forget(key);
        this.#logger.error({ err, key }, 'reconciler error (terminal, not requeued)');
      } else {
        this.queue.addRateLimited(key);
        this.#logger.error({ err, key, requeues: this.queue.numRequeues(key) }, 'reconciler error');
      }
      return;
    }
    this.queue.forget(key);
    if (outcome.requeueAfter > 0) {
      this.queue.addAfter(key, outcome.requeueAfter);
      this.#metrics.total.inc({ ...this.#labels, result: 'requeue_after' });
    } else {
      this.#metrics.total.inc({ ...this.#labels, result: 'success' });
    }
  }
}

/**
 * Feeds an informer (the shared one in @agentmeter/crds) into a controller: every add, update
 * and delete queues the object's key (`namespace/name`, or `name` when cluster-scoped); the
 * handlers only enqueue, as informer callbacks must stay quick. Returns an unsubscribe function.
 * Pair it with `resync: { keys: () => informer.list().map(objectKey) }`.
 */
export function enqueueInformerEvents<T extends KubernetesObject>(
  informer: Informer<T>,
  controller: Controller,
): () => void {
  const enqueue = (obj: T) => controller.enqueue(objectKey(obj));
  const off = [
    informer.on('add', enqueue),
    informer.on('update', enqueue),
    informer.on('delete', enqueue),
  ];
  return () => {
    for (const unsubscribe of off) unsubscribe();
  };
}
