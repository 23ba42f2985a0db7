// A controller loop shaped like controller-runtime's reconcileHandler, sized to the operator: one
// worker pulls keys from a WorkQueue and reconciles them one at a time. Level-triggered: a
// reconcile reads the world afresh, so adds of a key while it waits collapse into one run. A
// failure comes back with per-key backoff; a success may ask to run again after a delay.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Informer } from '@agentmeter/kube-client';
import { systemClock, type Clock, type Timer } from './clock.ts';
import { registerOnce } from './metrics.ts';
import { WorkQueue } from './workqueue.ts';

/** What a reconcile may ask for; returning nothing means "done until the next change". */
export interface ReconcileResult {
  /** Reconcile again after this many milliseconds (drift correction, period ends). */
  requeueAfter?: number;
}

export type Reconciler = (key: string) => Promise<ReconcileResult> | Promise<void>;

export interface ControllerOptions {
  /** Value of the `controller` label and the work queue's `name` label. */
  name: string;
  reconcile: Reconciler;
  registry: Registry;
  logger: Logger;
  /** Re-enqueue every key from `keys()` this often; covers missed watch events and a backoff
   * grown long during an outage. */
  resync?: { intervalMs: number; keys: () => Iterable<string> };
  clock?: Clock;
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
  };
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  readonly #reconcile: Reconciler;
  readonly #logger: Logger;
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
    this.#resync = options.resync;
    this.#clock = options.clock ?? systemClock;
    this.queue = new WorkQueue({
      name: options.name,
      registry: options.registry,
      clock: this.#clock,
    });
    this.#metrics = controllerMetrics(options.registry);
    this.#labels = { controller: options.name };
    for (const result of RESULTS) this.#metrics.total.inc({ ...this.#labels, result }, 0);
    this.#metrics.errors.inc(this.#labels, 0);
  }

  /** Queues `key` for reconciliation (from informer callbacks, timers). */
  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** Starts the worker and resync; resolves once stop() has drained it. */
  start(): Promise<void> {
    if (this.#running) return this.#running;
    this.#logger.info('starting controller');
    this.#scheduleResync();
    this.#running = this.#work();
    return this.#running;
  }

  /** Stops taking keys, lets the running reconcile finish, and waits for the worker to exit. */
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
    let requeueAfter: number;
    try {
      const result = await this.#reconcile(key);
      requeueAfter = result?.requeueAfter ?? 0;
    } catch (err) {
      // The error policy: retry with backoff; the next success resets it.
      this.#metrics.errors.inc(this.#labels);
      this.#metrics.total.inc({ ...this.#labels, result: 'error' });
      this.queue.addRateLimited(key);
      this.#logger.error({ err, key, requeues: this.queue.numRequeues(key) }, 'reconciler error');
      return;
    } finally {
      this.#metrics.time.observe(this.#labels, (this.#clock.now() - started) / 1000);
    }
    this.queue.forget(key);
    if (requeueAfter > 0) {
      this.queue.addAfter(key, requeueAfter);
      this.#metrics.total.inc({ ...this.#labels, result: 'requeue_after' });
    } else {
      this.#metrics.total.inc({ ...this.#labels, result: 'success' });
    }
  }
}

/**
 * Queues `key` when the informer sees an object added or deleted, or its spec changed
 * (metadata.generation moved). Status writes leave the generation alone, so the controller's own
 * writes do not trigger it again. Returns an unsubscribe function.
 */
export function enqueueOnSpecChange<T extends KubernetesObject>(
  informer: Informer<T>,
  controller: Controller,
  key: string,
): () => void {
  const enqueue = (): void => controller.enqueue(key);
  const off = [
    informer.on('add', enqueue),
    informer.on('delete', enqueue),
    informer.on('update', (obj, old) => {
      if (obj.metadata?.generation !== old.metadata?.generation) enqueue();
    }),
  ];
  return () => {
    for (const unsubscribe of off) unsubscribe();
  };
}
