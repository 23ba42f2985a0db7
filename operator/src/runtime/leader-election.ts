// Lease-based leader election with client-go's algorithm (tools/leaderelection) and
// controller-runtime's default timings. Only the leader runs controllers; a replica that cannot
// renew within renewDeadline stops leading (and the process exits) before anyone else can
// take the lease over.
import { isConflict, isNotFound, statusCodeOf } from '@agentmeter/kube-client';
import {
  V1MicroTime,
  type CoordinationV1Api,
  type V1Lease,
  type V1LeaseSpec,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import { systemClock, type Clock, type Timer } from './clock.ts';
import { registerOnce } from './metrics.ts';

export type LeaseApi = Pick<
  CoordinationV1Api,
  'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'
>;

export interface LeaderCallbacks {
  /** This replica became the leader: start controllers. */
  onStartedLeading?: () => void;
  /** Leadership ended (renewal failed or stop() was called): stop acting, normally exit. */
  onStoppedLeading?: () => void;
  /** A different holder was observed (including this replica). */
  onNewLeader?: (identity: string) => void;
  /**
   * After each Lease read or write: whether the apiserver answered (with any status, a conflict
   * included). A standby runs no rounds, so this is how it knows it can reach the API.
   */
  onLeaseApi?: (answered: boolean) => void;
}

export interface LeaderElectorOptions {
  api: LeaseApi;
  namespace: string;
  /** Lease name, e.g. "agentmeter-operator". */
  name: string;
  /** Unique per replica; the pod name. */
  identity: string;
  logger: Logger;
  /** How long others wait after the last observed change before taking over; default 15 s. */
  leaseDurationMs?: number;
  /** How long the leader keeps retrying a renewal before giving up; default 10 s. */
  renewDeadlineMs?: number;
  /** Interval between attempts; default 2 s. */
  retryPeriodMs?: number;
  /** Clear holderIdentity on stop() so a successor need not wait for expiry. */
  releaseOnCancel?: boolean;
  callbacks?: LeaderCallbacks;
  /** Exposes leader_election_master_status{name} when given. */
  registry?: Registry;
  clock?: Clock;
  /** Source of jitter in [0, 1); injectable for deterministic tests. */
  random?: () => number;
}

/** client-go JitterFactor: acquire retries wait retryPeriod·(1 + rand·1.2). */
export const JITTER_FACTOR = 1.2;

export class LeaderElectionConfigError extends Error {
  override readonly name = 'LeaderElectionConfigError';
}

/** The Lease spec fields the algorithm reads, as last seen. */
interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime: V1MicroTime;
  renewTime: V1MicroTime;
  leaseTransitions: number;
}

// The generated client does not deserialize MicroTime, so reads give strings.
function toMicroTime(value: Date | string | undefined): V1MicroTime {
  return new V1MicroTime(value ?? 0);
}

function recordFromSpec(spec: V1LeaseSpec | undefined): LeaseRecord {
  return {
    holderIdentity: spec?.holderIdentity ?? '',
    leaseDurationSeconds: spec?.leaseDurationSeconds ?? 0,
    acquireTime: toMicroTime(spec?.acquireTime),
    renewTime: toMicroTime(spec?.renewTime),
    leaseTransitions: spec?.leaseTransitions ?? 0,
  };
}

function specFromRecord(record: LeaseRecord): V1LeaseSpec {
  return { ...record };
}

export class LeaderElector {
  readonly #api: LeaseApi;
  readonly #namespace: string;
  readonly #name: string;
  readonly #identity: string;
  readonly #logger: Logger;
  readonly #leaseDurationMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  readonly #releaseOnCancel: boolean;
  readonly #callbacks: LeaderCallbacks;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #status: Gauge<'name'> | undefined;

  /** The Lease object as last returned by the apiserver; its resourceVersion guards updates. */
  #lease: V1Lease | undefined;
  #observedRecord: LeaseRecord | undefined;
  /** The spec as last read, serialized, to notice when another holder changes it. */
  #observedRaw: string | undefined;
  /** Local monotonic time the observed record last changed: the only clock expiry uses. */
  #observedTime = 0;
  #reportedLeader: string | undefined;
  #leading = false;
  #stopped = false;
  #running: Promise<void> | undefined;
  #pendingSleep: { timer: Timer; wake: () => void } | undefined;

  constructor(options: LeaderElectorOptions) {
    this.#api = options.api;
    this.#namespace = options.namespace;
    this.#name = options.name;
    this.#identity = options.identity;
    this.#logger = options.logger.child({ lease: `${options.namespace}/${options.name}` });
    this.#leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.#renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.#retryPeriodMs = options.retryPeriodMs ?? 2_000;
    this.#releaseOnCancel = options.releaseOnCancel ?? false;
    this.#callbacks = options.callbacks ?? {};
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#validate();
    this.#status = options.registry
      ? registerOnce(
          options.registry,
          'leader_election_master_status',
          () =>
            new Gauge({
              name: 'leader_election_master_status',
              help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master.',
              labelNames: ['name'] as const,
              registers: [options.registry as Registry],
            }),
        )
      : undefined;
    this.#status?.set({ name: this.#name }, 0);
  }

  /** True while this replica holds the lease and has renewed it within renewDeadline. */
  isLeader(): boolean {
    return this.#leading;
  }

  /** The holder this replica last observed, if any. */
  leader(): string | undefined {
    return this.#observedRecord?.holderIdentity || undefined;
  }

  /**
   * Campaigns until the lease is acquired, then renews it until renewal fails or stop() is
   * called. Resolves when leadership has ended (or stop() came before it was won).
   */
  run(): Promise<void> {
    this.#running ??= this.#run();
    return this.#running;
  }

  /** Stops campaigning or leading; releases the lease first when releaseOnCancel is set. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#pendingSleep?.timer.cancel();
    this.#pendingSleep?.wake();
    await this.#running;
  }

  #validate(): void {
    const fail = (msg: string) => {
      throw new LeaderElectionConfigError(
        `leader election ${this.#namespace}/${this.#name}: ${msg}`,
      );
    };
    if (!this.#identity) fail('identity must not be empty');
    // The Lease stores whole seconds; refuse values that would be silently truncated.
    if (this.#leaseDurationMs < 1000 || this.#leaseDurationMs % 1000 !== 0) {
      fail(`leaseDuration must be a whole number of seconds, got ${this.#leaseDurationMs} ms`);
    }
    if (this.#leaseDurationMs <= this.#renewDeadlineMs)
      fail('leaseDuration must exceed renewDeadline');
    if (this.#renewDeadlineMs <= JITTER_FACTOR * this.#retryPeriodMs) {
      fail('renewDeadline must exceed retryPeriod × 1.2');
    }
    if (this.#retryPeriodMs <= 0) fail('retryPeriod must be positive');
  }

  async #run(): Promise<void> {
    if (!(await this.#acquire())) return;
    this.#setLeading(true);
    this.#call('onStartedLeading', () => this.#callbacks.onStartedLeading?.());
    await this.#renew();
    this.#setLeading(false);
    if (this.#stopped && this.#releaseOnCancel) await this.#release();
    this.#call('onStoppedLeading', () => this.#callbacks.onStoppedLeading?.());
  }

  async #acquire(): Promise<boolean> {
    this.#logger.info({ identity: this.#identity }, 'attempting to acquire leader lease');
    while (!this.#stopped) {
      const acquired = await this.#tryAcquireOrRenew();
      this.#maybeReportTransition();
      if (acquired) {
        this.#logger.info({ identity: this.#identity }, 'acquired leader lease');
        return true;
      }
      await this.#sleep(this.#retryPeriodMs * (1 + this.#random() * JITTER_FACTOR));
    }
    return false;
  }

  /** Renews every retryPeriod; a round that cannot renew within renewDeadline ends leadership. */
  async #renew(): Promise<void> {
    while (!this.#stopped) {
      const deadline = this.#clock.now() + this.#renewDeadlineMs;
      let renewed = false;
      for (;;) {
        const remaining = deadline - this.#clock.now();
        if (this.#stopped || remaining <= 0) break;
        renewed = await this.#withDeadline(this.#tryAcquireOrRenew(), remaining);
        this.#maybeReportTransition();
        if (renewed) break;
        const left = deadline - this.#clock.now();
        if (left <= 0) break;
        await this.#sleep(Math.min(this.#retryPeriodMs, left));
      }
      if (this.#stopped) return;
      if (!renewed) {
        this.#logger.error(
          { identity: this.#identity, renewDeadlineMs: this.#renewDeadlineMs },
          'failed to renew leader lease within renewDeadline; stopping leading',
        );
        return;
      }
      await this.#sleep(this.#retryPeriodMs);
    }
  }

  /** One step of client-go's tryAcquireOrRenew; true when this replica holds the lease. */
  async #tryAcquireOrRenew(): Promise<boolean> {
    const now = new V1MicroTime(this.#clock.date());
    const record: LeaseRecord = {
      holderIdentity: this.#identity,
      leaseDurationSeconds: this.#leaseDurationMs / 1000,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: 0,
    };

    // 1. Fast path: the leader renews against the lease it last wrote, without a GET.
    const observed = this.#observedRecord;
    if (observed && this.#holdsRecord() && this.#isLeaseValid()) {
      record.acquireTime = observed.acquireTime;
      record.leaseTransitions = observed.leaseTransitions;
      try {
        await this.#update(record);
        return true;
      } catch (err) {
        this.#logger.warn({ err }, 'optimistic lease renewal failed; falling back to a read');
      }
    }

    // 2. Read the lease, creating it when it does not exist.
    let current: V1Lease;
    try {
      current = await this.#reported(
        this.#api.readNamespacedLease({
          name: this.#name,
          namespace: this.#namespace,
        }),
      );
    } catch (err) {
      if (!isNotFound(err)) {
        this.#logger.warn({ err }, 'reading the leader lease failed');
        return false;
      }
      return this.#create(record);
    }
    this.#lease = current;

    // 3. Note when the holder's record changes; expiry is measured from that local moment.
    const raw = JSON.stringify(current.spec ?? {});
    const old = recordFromSpec(current.spec);
    if (raw !== this.#observedRaw) {
      this.#observe(old);
      this.#observedRaw = raw;
    }
    if (old.holderIdentity !== '' && this.#isLeaseValid() && !this.#holdsRecord()) {
      return false;
    }

    // 4. Renew (keeping acquireTime) or take over (counting a transition).
    if (this.#holdsRecord()) {
      record.acquireTime = old.acquireTime;
      record.leaseTransitions = old.leaseTransitions;
    } else {
      record.leaseTransitions = old.leaseTransitions + 1;
    }
    try {
      await this.#update(record);
      return true;
    } catch (err) {
      const lostRace = isConflict(err);
      this.#logger[lostRace ? 'debug' : 'warn']({ err }, 'updating the leader lease failed');
      return false;
    }
  }

  async #create(record: LeaseRecord): Promise<boolean> {
    try {
      this.#lease = await this.#reported(
        this.#api.createNamespacedLease({
          namespace: this.#namespace,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.#name, namespace: this.#namespace },
            spec: specFromRecord(record),
          },
        }),
      );
    } catch (err) {
      const lostRace = isConflict(err);
      this.#logger[lostRace ? 'debug' : 'warn']({ err }, 'creating the leader lease failed');
      return false;
    }
    this.#observe(record);
    return true;
  }

  /** PUT with the last seen resourceVersion: a concurrent writer makes it fail with 409. */
  async #update(record: LeaseRecord): Promise<void> {
    const lease = this.#lease;
    if (!lease?.metadata?.resourceVersion) {
      throw new Error(`lease ${this.#namespace}/${this.#name} has not been read yet`);
    }
    this.#lease = await this.#reported(
      this.#api.replaceNamespacedLease({
        name: this.#name,
        namespace: this.#namespace,
        body: { ...lease, spec: specFromRecord(record) },
      }),
    );
    this.#observe(record);
  }

  async #release(): Promise<void> {
    if (!this.#holdsRecord()) return;
    const now = new V1MicroTime(this.#clock.date());
    try {
      await this.#update({
        holderIdentity: '',
        leaseDurationSeconds: 1,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: this.#observedRecord?.leaseTransitions ?? 0,
      });
      this.#logger.info('released leader lease');
    } catch (err) {
      this.#logger.warn({ err }, 'releasing the leader lease failed');
    }
  }

  #observe(record: LeaseRecord): void {
    this.#observedRecord = record;
    this.#observedTime = this.#clock.now();
  }

  #holdsRecord(): boolean {
    return this.#observedRecord?.holderIdentity === this.#identity;
  }

  /** The record's own leaseDurationSeconds counts, as the holder may be configured differently. */
  #isLeaseValid(): boolean {
    const seconds = this.#observedRecord?.leaseDurationSeconds ?? 0;
    return this.#observedTime + seconds * 1000 > this.#clock.now();
  }

  #maybeReportTransition(): void {
    const holder = this.#observedRecord?.holderIdentity;
    if (!holder || holder === this.#reportedLeader) return;
    this.#reportedLeader = holder;
    this.#logger.info({ leader: holder }, 'new leader observed');
    this.#call('onNewLeader', () => this.#callbacks.onNewLeader?.(holder));
  }

  #setLeading(leading: boolean): void {
    this.#leading = leading;
    this.#status?.set({ name: this.#name }, leading ? 1 : 0);
  }

  #reported<T>(request: Promise<T>): Promise<T> {
    const report = (answered: boolean): void =>
      this.#call('onLeaseApi', () => this.#callbacks.onLeaseApi?.(answered));
    return request.then(
      (value) => {
        report(true);
        return value;
      },
      (err: unknown) => {
        report(statusCodeOf(err) !== undefined);
        throw err;
      },
    );
  }

  #call(name: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#logger.error({ err, callback: name }, 'leader election callback threw');
    }
  }

  /** A request that outlives the renew deadline counts as a failed attempt. */
  #withDeadline(attempt: Promise<boolean>, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = this.#clock.setTimeout(() => resolve(false), ms);
      void attempt.then((ok) => {
        timer.cancel();
        resolve(ok);
      });
    });
  }

  /** A sleep that stop() cuts short. */
  #sleep(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        this.#pendingSleep = undefined;
        resolve();
      };
      this.#pendingSleep = { timer: this.#clock.setTimeout(wake, ms), wake };
    });
  }
}
