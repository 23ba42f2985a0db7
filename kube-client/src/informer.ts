// A list+watch cache over RestClient. client-node's ListWatch is not used because it stops for
// good on any error other than 410 (RBAC, 5xx, connection refused), reports a failed initial
// LIST only through callbacks, and keys its cache by namespace then name; this loop owns
// restarts, backoff and the synced flag so callers only react to events.
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubernetesObject } from '@kubernetes/client-node';
import { KubeApiError, isGone, parseStatus } from './errors.ts';
import type { RestClient } from './rest-client.ts';

/** pino-compatible subset, so this shared package needs no logger dependency. */
export interface InformerLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface BackoffOptions {
  /** First delay after a failure; doubled per consecutive failure. Default 1000. */
  readonly initialMs?: number;
  /** Cap. Default 30000. */
  readonly maxMs?: number;
  /** Fraction (0–1) of each delay that is randomised away, so agents restarting together
   * after an apiserver outage do not return in lockstep. Default 0.2. */
  readonly jitter?: number;
}

export interface InformerOptions<T = unknown> {
  readonly client: RestClient;
  /** Full collection path, e.g. `/api/v1/pods` or `/apis/agentmeter.dev/v1alpha1/costpolicies`. */
  readonly path: string;
  readonly fieldSelector?: string;
  readonly labelSelector?: string;
  readonly backoff?: BackoffOptions;
  /** LIST page size (`limit`). Default 500. */
  readonly listPageSize?: number;
  /** Per-page LIST timeout. Default 60000. */
  readonly listTimeoutMs?: number;
  /** A watch that ends sooner than this without delivering an event counts as a failure, so a
   * server that accepts and drops at once is retried with backoff. Default 1000. */
  readonly minWatchMs?: number;
  /** The server ends each watch after this many seconds times 1–2 (randomised, as client-go
   * does, so watches do not all restart together). Default 300. */
  readonly watchTimeoutSeconds?: number;
  readonly logger?: InformerLogger;
  /** Applied to every object before it is cached or handed out, as client-go's SetTransform:
   * keep only the fields the consumer reads, so a large status or managedFields is not held
   * in memory for the life of the process. Must keep metadata.name, namespace and
   * resourceVersion. */
  readonly transform?: (obj: T) => T;
  /** Jitter source in [0, 1); tests pin it. */
  readonly random?: () => number;
}

export type RestartReason = 'error' | 'gone';

/**
 * Events are delivered synchronously from the stream handler. Handlers must be quick and must
 * not throw; a throw (or a rejected promise) is caught and logged, never propagated.
 */
export interface InformerEventMap<T> {
  add: [obj: T];
  update: [obj: T, old: T];
  delete: [obj: T];
  /** Once, after the first successful LIST has been applied to the cache. */
  synced: [];
  /** A LIST or WATCH failed; the loop retries after `retryInMs`. */
  error: [err: unknown, retryInMs: number];
  /** The loop starts over: after an error (once its backoff elapsed) or a 410 (relist). */
  restart: [reason: RestartReason];
}

export type InformerEvent = keyof InformerEventMap<unknown>;
type Handler<T, K extends InformerEvent> = (...args: InformerEventMap<T>[K]) => void;

interface RawList<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: T[] | null;
}

interface WatchOutcome {
  err: unknown;
  gone: boolean;
  events: number;
  durationMs: number;
}

const DEFAULTS = {
  initialMs: 1000,
  maxMs: 30_000,
  jitter: 0.2,
  listPageSize: 500,
  listTimeoutMs: 60_000,
  minWatchMs: 1000,
  watchTimeoutSeconds: 300,
};

/** Grace after the server-side watch timeout before a silent stream is given up on. */
const WATCH_IDLE_GRACE_MS = 30_000;

const noopLogger: InformerLogger = { debug() {}, warn() {}, error() {} };

/** Cache key: `namespace/name`, or `name` for cluster-scoped objects. */
export function objectKey(obj: KubernetesObject): string {
  const ns = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? '';
  return ns ? `${ns}/${name}` : name;
}

/**
 * Objects are cached exactly as the apiserver sent them (raw JSON): timestamps are strings
 * even though client-node's model types declare `Date`. Normalise at the consumer.
 */
export class Informer<T extends KubernetesObject> {
  readonly path: string;
  readonly #client: RestClient;
  readonly #fieldSelector: string | undefined;
  readonly #labelSelector: string | undefined;
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #jitter: number;
  readonly #pageSize: number;
  readonly #listTimeoutMs: number;
  readonly #minWatchMs: number;
  readonly #watchTimeoutSeconds: number;
  readonly #log: InformerLogger;
  readonly #random: () => number;
  readonly #transform: (obj: T) => T;
  readonly #handlers: { [K in InformerEvent]: Handler<T, K>[] } = {
    add: [],
    update: [],
    delete: [],
    synced: [],
    error: [],
    restart: [],
  };

  #cache = new Map<string, T>();
  #resourceVersion = '';
  #synced = false;
  #syncWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  #failures = 0;
  #running: Promise<void> | undefined;
  #stop = new AbortController();

  constructor(options: InformerOptions<T>) {
    this.path = options.path;
    this.#client = options.client;
    this.#fieldSelector = options.fieldSelector;
    this.#labelSelector = options.labelSelector;
    this.#initialMs = options.backoff?.initialMs ?? DEFAULTS.initialMs;
    this.#maxMs = options.backoff?.maxMs ?? DEFAULTS.maxMs;
    this.#jitter = options.backoff?.jitter ?? DEFAULTS.jitter;
    this.#pageSize = options.listPageSize ?? DEFAULTS.listPageSize;
    this.#listTimeoutMs = options.listTimeoutMs ?? DEFAULTS.listTimeoutMs;
    this.#minWatchMs = options.minWatchMs ?? DEFAULTS.minWatchMs;
    this.#watchTimeoutSeconds = options.watchTimeoutSeconds ?? DEFAULTS.watchTimeoutSeconds;
    this.#log = options.logger ?? noopLogger;
    this.#random = options.random ?? Math.random;
    this.#transform = options.transform ?? ((obj) => obj);
  }

  /** True once the first LIST has been applied; stays true across later restarts. */
  get synced(): boolean {
    return this.#synced;
  }

  /** Resolves on the first sync; rejects if the informer is stopped before that. */
  whenSynced(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve, reject) => this.#syncWaiters.push({ resolve, reject }));
  }

  /** Registers a handler; returns a function that removes it. */
  on<K extends InformerEvent>(event: K, handler: Handler<T, K>): () => void {
    const list = this.#handlers[event] as Handler<T, K>[];
    list.push(handler);
    return () => {
      const i = list.indexOf(handler);
      if (i >= 0) list.splice(i, 1);
    };
  }

  get(key: string): T | undefined {
    return this.#cache.get(key);
  }

  list(): T[] {
    return [...this.#cache.values()];
  }

  /** Starts the list/watch loop in the background; calling it again while running is a no-op. */
  start(): void {
    if (this.#running) return;
    this.#stop = new AbortController();
    this.#running = this.#run().finally(() => {
      this.#running = undefined;
    });
  }

  /** Stops the loop and closes the watch; resolves when the loop has exited. */
  async stop(): Promise<void> {
    this.#stop.abort();
    const waiters = this.#syncWaiters;
    this.#syncWaiters = [];
    for (const w of waiters) w.reject(new Error(`informer ${this.path} stopped before it synced`));
    await this.#running;
  }

  async #run(): Promise<void> {
    let goneStreak = 0;
    while (!this.#stop.signal.aborted) {
      try {
        if (this.#resourceVersion === '') await this.#relist();
        const outcome = await this.#watchOnce();
        if (this.#stop.signal.aborted) return;
        if (outcome.events > 0) goneStreak = 0;
        if (outcome.gone) throw new KubeApiError(410, { reason: 'Expired' }, `watch ${this.path}`);
        if (outcome.err !== undefined) throw outcome.err;
        // A clean end (the server's timeoutSeconds, or a stream idle past it): resume from the
        // last resourceVersion, unless the server keeps dropping the watch straight away.
        if (outcome.events === 0 && outcome.durationMs < this.#minWatchMs) {
          throw new Error(
            `watch ${this.path} closed after ${outcome.durationMs} ms without events`,
          );
        }
      } catch (err) {
        if (this.#stop.signal.aborted) return;
        if (isGone(err)) {
          // Relist at once; only a 410 straight after a fresh LIST is worth slowing down for.
          this.#resourceVersion = '';
          goneStreak++;
          this.#log.debug(
            { path: this.path, err: describe(err) },
            'resourceVersion expired; relisting',
          );
          if (goneStreak > 1 && !(await this.#pause(this.#delay(goneStreak - 1)))) return;
          this.#emit('restart', 'gone');
          continue;
        }
        this.#failures++;
        const delay = this.#delay(this.#failures);
        this.#log.warn(
          { path: this.path, err: describe(err), retryInMs: delay, failures: this.#failures },
          'list/watch failed; retrying',
        );
        this.#emit('error', err, delay);
        if (!(await this.#pause(delay))) return;
        this.#emit('restart', 'error');
      }
    }
  }

  /** Sleeps unless stopped; false when the informer was stopped meanwhile. */
  async #pause(ms: number): Promise<boolean> {
    try {
      await sleep(ms, undefined, { signal: this.#stop.signal });
      return true;
    } catch {
      return false;
    }
  }

  #delay(attempt: number): number {
    const exp = Math.min(this.#maxMs, this.#initialMs * 2 ** Math.min(attempt - 1, 30));
    return Math.round(exp * (1 - this.#jitter * this.#random()));
  }

  async #relist(): Promise<void> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv: string;
    do {
      const page = await this.#listPage(cont);
      for (const item of page.items ?? []) items.push(this.#transform(item));
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion ?? '';
    } while (cont);
    if (!rv) throw new Error(`list ${this.path} returned no resourceVersion`);

    const next = new Map<string, T>();
    for (const item of items) next.set(objectKey(item), item);
    const previous = this.#cache;
    this.#cache = next;
    this.#resourceVersion = rv;
    this.#failures = 0;
    // Objects that vanished while the watch was down still get their delete event.
    for (const [key, old] of previous) if (!next.has(key)) this.#emit('delete', old);
    for (const [key, obj] of next) {
      const old = previous.get(key);
      if (!old) this.#emit('add', obj);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion)
        this.#emit('update', obj, old);
    }
    if (!this.#synced) {
      this.#synced = true;
      const waiters = this.#syncWaiters;
      this.#syncWaiters = [];
      for (const w of waiters) w.resolve();
      this.#emit('synced');
    }
  }

  #listPage(cont: string | undefined): Promise<RawList<T>> {
    return this.#client.request<RawList<T>>('GET', this.path, {
      query: {
        limit: this.#pageSize,
        continue: cont,
        fieldSelector: this.#fieldSelector,
        labelSelector: this.#labelSelector,
      },
      signal: this.#stop.signal,
      timeoutMs: this.#listTimeoutMs,
    });
  }

  async #watchOnce(): Promise<WatchOutcome> {
    const started = Date.now();
    let events = 0;
    let gone = false;
    let eventError: unknown;
    // Ends this one watch (after an ERROR event) without stopping the informer.
    const end = new AbortController();
    const timeoutSeconds = Math.round(this.#watchTimeoutSeconds * (1 + this.#random()));
    const onEvent = (type: string, obj: unknown): void => {
      if (end.signal.aborted) return;
      if (type === 'ERROR') {
        const status = parseStatus(obj);
        if (status.code === 410) gone = true;
        else eventError = new KubeApiError(status.code ?? 500, status, `watch ${this.path}`);
        end.abort();
        return;
      }
      const rv = (obj as T).metadata?.resourceVersion;
      if (type === 'ADDED' || type === 'MODIFIED') this.#upsert(this.#transform(obj as T));
      else if (type === 'DELETED') this.#remove(this.#transform(obj as T));
      else if (type !== 'BOOKMARK') return;
      if (rv) this.#resourceVersion = rv;
      events++;
      this.#failures = 0;
    };
    let err: unknown;
    try {
      await this.#client.watch(
        this.path,
        {
          resourceVersion: this.#resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds,
          fieldSelector: this.#fieldSelector,
          labelSelector: this.#labelSelector,
        },
        onEvent,
        {
          signal: AbortSignal.any([this.#stop.signal, end.signal]),
          idleTimeoutMs: timeoutSeconds * 1000 + WATCH_IDLE_GRACE_MS,
        },
      );
    } catch (error) {
      err = error;
    }
    return { err: eventError ?? err, gone, events, durationMs: Date.now() - started };
  }

  #upsert(obj: T): void {
    const key = objectKey(obj);
    const old = this.#cache.get(key);
    this.#cache.set(key, obj);
    if (!old) this.#emit('add', obj);
    else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion)
      this.#emit('update', obj, old);
  }

  #remove(obj: T): void {
    const key = objectKey(obj);
    if (this.#cache.delete(key)) this.#emit('delete', obj);
  }

  #emit<K extends InformerEvent>(event: K, ...args: InformerEventMap<T>[K]): void {
    for (const handler of [...this.#handlers[event]] as Handler<T, K>[]) {
      try {
        const ret: unknown = handler(...args);
        // An async handler's rejection would otherwise be an unhandled rejection (fatal).
        if (ret instanceof Promise) ret.catch((err: unknown) => this.#handlerFailed(event, err));
      } catch (err) {
        this.#handlerFailed(event, err);
      }
    }
  }

  #handlerFailed(event: InformerEvent, err: unknown): void {
    this.#log.error(
      { path: this.path, event, err: describe(err) },
      'informer event handler failed',
    );
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
