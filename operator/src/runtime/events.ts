// An events.k8s.io/v1 event recorder. Repeats of the same event within a window become a
// series count on the existing Event (as client-go's recorder aggregates them) instead of new
// objects. Recording is best effort: it never throws into the reconcile that called it. An event
// given a fixed name exists once: a create that finds it (a repeat by another replica, say a new
// leader after a failover) records nothing more.
import { isConflict, isNotFound } from '@agentmeter/kube-client';
import {
  V1MicroTime,
  type EventsV1Api,
  type EventsV1Event,
  type V1ObjectReference,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { systemClock, type Clock } from './clock.ts';
import { registerOnce } from './metrics.ts';
import { mergePatchOptions } from './patch.ts';

export type EventsApi = Pick<EventsV1Api, 'createNamespacedEvent' | 'patchNamespacedEvent'>;

/** The object an event is about. Leave namespace out for cluster-scoped objects. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

export interface EventInput {
  type: 'Normal' | 'Warning';
  /** Why, in CamelCase, e.g. BudgetExceeded. */
  reason: string;
  /** What the controller did or failed to do, in CamelCase, e.g. Reconcile, Suspend. */
  action: string;
  /** Human-readable detail; cut to the API's 1024-byte limit. */
  note: string;
  related?: ObjectRef;
  /** A deterministic name for an event that must exist at most once (a DNS subdomain). */
  name?: string;
}

export interface EventRecorderOptions {
  api: EventsApi;
  /** This replica, e.g. the pod name. */
  reportingInstance: string;
  logger: Logger;
  registry: Registry;
  reportingController?: string;
  /** Where events about cluster-scoped objects go; the apiserver accepts "default". */
  clusterScopedNamespace?: string;
  /** Repeats closer together than this extend the series; default 6 min as in client-go. */
  seriesWindowMs?: number;
  clock?: Clock;
}

export const REPORTING_CONTROLLER = 'agentmeter.dev/operator';
export const NOTE_MAX_BYTES = 1024;

/** Cuts `note` to at most `maxBytes` of UTF-8 without splitting a character. */
export function truncateNote(note: string, maxBytes: number = NOTE_MAX_BYTES): string {
  if (Buffer.byteLength(note) <= maxBytes) return note;
  let bytes = 0;
  let out = '';
  for (const ch of note) {
    bytes += Buffer.byteLength(ch);
    if (bytes > maxBytes) break;
    out += ch;
  }
  return out;
}

interface SeriesState {
  namespace: string;
  /** Name of the Event in the apiserver, once created. */
  name: string | undefined;
  count: number;
  lastObserved: number;
  /** Operations on one key run in order, so a repeat never races the create before it. */
  chain: Promise<void>;
}

type Outcome = 'created' | 'series_updated' | 'already_exists' | 'failed';

export class EventRecorder {
  readonly #api: EventsApi;
  readonly #instance: string;
  readonly #controller: string;
  readonly #clusterNamespace: string;
  readonly #windowMs: number;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #events: Counter<'outcome'>;
  readonly #series = new Map<string, SeriesState>();
  #sequence = 0;

  constructor(options: EventRecorderOptions) {
    this.#api = options.api;
    this.#instance = options.reportingInstance;
    this.#controller = options.reportingController ?? REPORTING_CONTROLLER;
    this.#clusterNamespace = options.clusterScopedNamespace ?? 'default';
    this.#windowMs = options.seriesWindowMs ?? 6 * 60_000;
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
    const registry = options.registry;
    this.#events = registerOnce(
      registry,
      'agentmeter_operator_events_total',
      () =>
        new Counter({
          name: 'agentmeter_operator_events_total',
          help: 'Kubernetes Events recorded by outcome: created, series_updated, already_exists (an Event of that fixed name was there) or failed',
          labelNames: ['outcome'] as const,
          registers: [registry],
        }),
    );
    for (const outcome of ['created', 'series_updated', 'already_exists', 'failed'] as const) {
      this.#events.inc({ outcome }, 0);
    }
  }

  /**
   * Records an event about `regarding`. Resolves once the apiserver has answered; failures are
   * logged and counted, never thrown, so callers may also fire and forget.
   */
  async record(regarding: ObjectRef, input: EventInput): Promise<void> {
    const note = truncateNote(input.note);
    const key = JSON.stringify([
      regarding.apiVersion,
      regarding.kind,
      regarding.namespace ?? '',
      regarding.name,
      regarding.uid ?? '',
      input.type,
      input.reason,
      input.action,
      note,
    ]);
    this.#prune();
    let state = this.#series.get(key);
    if (!state) {
      state = {
        namespace: regarding.namespace ?? this.#clusterNamespace,
        name: undefined,
        count: 0,
        lastObserved: this.#clock.now(),
        chain: Promise.resolve(),
      };
      this.#series.set(key, state);
    }
    const current = state;
    current.chain = current.chain.then(() => this.#emit(current, regarding, { ...input, note }));
    await current.chain;
  }

  async #emit(state: SeriesState, regarding: ObjectRef, input: EventInput): Promise<void> {
    const fields = { reason: input.reason, regarding: `${regarding.kind}/${regarding.name}` };
    const now = this.#clock.now();
    const repeat = state.name !== undefined && now - state.lastObserved <= this.#windowMs;
    try {
      if (repeat && (await this.#extendSeries(state, now))) {
        this.#count('series_updated');
        return;
      }
      this.#count(await this.#create(state, regarding, input, now));
    } catch (err) {
      this.#count('failed');
      this.#logger.warn({ err, ...fields, namespace: state.namespace }, 'recording event failed');
    }
  }

  /** Bumps the series of the existing Event; false if it is gone (events expire after 1 h). */
  async #extendSeries(state: SeriesState, now: number): Promise<boolean> {
    const count = state.count + 1;
    try {
      await this.#api.patchNamespacedEvent(
        {
          name: state.name as string,
          namespace: state.namespace,
          body: { series: { count, lastObservedTime: new V1MicroTime(this.#clock.date()) } },
        },
        mergePatchOptions(),
      );
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
    state.count = count;
    state.lastObserved = now;
    return true;
  }

  async #create(
    state: SeriesState,
    regarding: ObjectRef,
    input: EventInput,
    now: number,
  ): Promise<'created' | 'already_exists'> {
    const eventTime = new V1MicroTime(this.#clock.date());
    const name = input.name ?? this.#eventName(regarding.name, eventTime);
    const body: EventsV1Event = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name, namespace: state.namespace },
      eventTime,
      reportingController: this.#controller,
      reportingInstance: this.#instance,
      action: input.action,
      reason: input.reason,
      note: input.note,
      type: input.type,
      regarding: reference(regarding),
      ...(input.related ? { related: reference(input.related) } : {}),
    };
    let outcome: 'created' | 'already_exists' = 'created';
    try {
      const created = await this.#api.createNamespacedEvent({ namespace: state.namespace, body });
      state.name = created.metadata?.name;
    } catch (err) {
      if (input.name === undefined || !isConflict(err)) throw err;
      state.name = input.name;
      outcome = 'already_exists';
    }
    state.count = 1;
    state.lastObserved = now;
    return outcome;
  }

  /**
   * client-go's "<object>.<hex nanoseconds>". Not generateName: "<object>." is not itself a
   * valid name prefix, and the apiserver refuses it. The sequence keeps names made within one
   * millisecond apart.
   */
  #eventName(objectName: string, time: Date): string {
    const nanos = BigInt(time.getTime()) * 1_000_000n + BigInt(this.#sequence++ % 1_000_000);
    return `${objectName.slice(0, 253 - 17)}.${nanos.toString(16)}`;
  }

  /** Forgets series whose window has passed, so the cache stays small. */
  #prune(): void {
    const now = this.#clock.now();
    for (const [key, state] of this.#series) {
      if (now - state.lastObserved > this.#windowMs) this.#series.delete(key);
    }
  }

  #count(outcome: Outcome): void {
    this.#events.inc({ outcome });
  }
}

function reference(ref: ObjectRef): V1ObjectReference {
  return {
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    name: ref.name,
    ...(ref.namespace ? { namespace: ref.namespace } : {}),
    ...(ref.uid ? { uid: ref.uid } : {}),
  };
}
