import { ApiException, type V1Lease } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FakeClock } from './fake-clock.ts';
import {
  LeaderElectionConfigError,
  LeaderElector,
  type LeaderElectorOptions,
  type LeaseApi,
} from './leader-election.ts';

const logger = pino({ level: 'silent' });

/** An in-memory Lease store with the apiserver's optimistic concurrency. */
class FakeLeases implements LeaseApi {
  lease: V1Lease | undefined;
  failing = false;
  /** No apiserver answers at all, as when it is down: a network error with no status. */
  unreachable = false;
  #rv = 0;

  #check(): void {
    if (this.unreachable) throw new Error('connect ECONNREFUSED 127.0.0.1:6443');
    if (this.failing) throw new ApiException(503, 'unavailable', '', {});
  }

  async readNamespacedLease(): Promise<V1Lease> {
    this.#check();
    if (!this.lease) throw new ApiException(404, 'not found', '', {});
    return structuredClone(this.lease);
  }

  async createNamespacedLease({ body }: { body: V1Lease }): Promise<V1Lease> {
    this.#check();
    if (this.lease) throw new ApiException(409, 'already exists', '', {});
    this.lease = this.#store(body);
    return structuredClone(this.lease);
  }

  async replaceNamespacedLease({ body }: { body: V1Lease }): Promise<V1Lease> {
    this.#check();
    if (body.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion) {
      throw new ApiException(409, 'conflict', '', {});
    }
    this.lease = this.#store(body);
    return structuredClone(this.lease);
  }

  /** Stores what the apiserver would: JSON, so MicroTimes become strings. */
  #store(body: V1Lease): V1Lease {
    const stored = JSON.parse(JSON.stringify(body)) as V1Lease;
    stored.metadata = { ...stored.metadata, resourceVersion: String(++this.#rv) };
    return stored;
  }
}

function contender(
  api: FakeLeases,
  clock: FakeClock,
  identity: string,
  extra: Partial<LeaderElectorOptions> = {},
) {
  const log: string[] = [];
  const elector = new LeaderElector({
    api,
    clock,
    identity,
    logger,
    namespace: 'agentmeter-system',
    name: 'agentmeter-operator',
    random: () => 0,
    callbacks: {
      onStartedLeading: () => log.push(`started@${clock.now()}`),
      onStoppedLeading: () => log.push(`stopped@${clock.now()}`),
      onNewLeader: (id) => log.push(`leader=${id}`),
    },
    ...extra,
  });
  return { elector, log, run: elector.run() };
}

describe('LeaderElector', () => {
  it('creates a missing Lease and renews it every retryPeriod with MicroTime', async () => {
    const clock = new FakeClock(new Date('2026-05-01T00:00:00.123Z'));
    const api = new FakeLeases();
    const registry = new Registry();
    const a = contender(api, clock, 'a', { registry });
    await clock.advance(0);
    expect(a.elector.isLeader()).toBe(true);
    expect(a.log).toEqual(['leader=a', 'started@0']);
    expect(api.lease?.spec).toEqual({
      holderIdentity: 'a',
      leaseDurationSeconds: 15,
      acquireTime: '2026-05-01T00:00:00.123000Z',
      renewTime: '2026-05-01T00:00:00.123000Z',
      leaseTransitions: 0,
    });
    await clock.advance(2000);
    expect(api.lease?.spec?.renewTime).toBe('2026-05-01T00:00:02.123000Z');
    expect(api.lease?.spec?.acquireTime).toBe('2026-05-01T00:00:00.123000Z');
    const status = await registry.getSingleMetric('leader_election_master_status')?.get();
    expect(status?.values[0]?.value).toBe(1);
    await a.elector.stop();
  });

  it('takes over only after the record stayed unchanged for leaseDuration', async () => {
    const clock = new FakeClock();
    const api = new FakeLeases();
    const a = contender(api, clock, 'a');
    await clock.advance(0);
    const b = contender(api, clock, 'b');
    await clock.advance(10_000);
    expect(a.elector.isLeader()).toBe(true);
    expect(b.elector.isLeader()).toBe(false);
    expect(b.elector.leader()).toBe('a');

    // a "crashes": it stops renewing and does not release.
    await a.elector.stop();
    const crashedAt = clock.now();
    await clock.advance(14_000);
    expect(b.elector.isLeader()).toBe(false);
    await clock.advance(4_000);
    expect(b.elector.isLeader()).toBe(true);
    expect(b.log.slice(0, 2)).toEqual(['leader=a', 'leader=b']);
    // a renewed at most one retryPeriod before it stopped.
    const startedAt = Number(b.log[2]?.replace('started@', ''));
    expect(startedAt).toBeGreaterThan(crashedAt + 15_000 - 2_000);
    expect(api.lease?.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    await b.elector.stop();
  });

  it('stops leading when it cannot renew within renewDeadline, before the lease expires', async () => {
    const clock = new FakeClock();
    const api = new FakeLeases();
    const a = contender(api, clock, 'a');
    await clock.advance(4_000);
    const lastRenewal = clock.now();
    api.failing = true;
    await clock.advance(20_000);
    await a.run;
    expect(a.elector.isLeader()).toBe(false);
    const stoppedAt = Number(a.log.at(-1)?.replace('stopped@', ''));
    expect(a.log.at(-1)).toMatch(/^stopped@/);
    // Others may take over leaseDuration after the last renewal they saw; a must be gone first.
    expect(stoppedAt).toBeLessThan(lastRenewal + 15_000);
    expect(stoppedAt).toBeGreaterThanOrEqual(lastRenewal + 10_000);
  });

  it('tells a standby whether the apiserver answers its Lease requests', async () => {
    const clock = new FakeClock();
    const api = new FakeLeases();
    const a = contender(api, clock, 'a');
    await clock.advance(0);
    const answers: boolean[] = [];
    const b = contender(api, clock, 'b', { callbacks: { onLeaseApi: (ok) => answers.push(ok) } });
    await clock.advance(2_000);
    expect(b.elector.isLeader()).toBe(false);
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.every((ok) => ok)).toBe(true);

    // A status, even an error one, is an answer; a refused connection is not.
    api.failing = true;
    await clock.advance(4_000);
    expect(answers.at(-1)).toBe(true);
    api.failing = false;
    api.unreachable = true;
    await clock.advance(4_000);
    expect(answers.at(-1)).toBe(false);
    api.unreachable = false;
    await clock.advance(4_000);
    expect(answers.at(-1)).toBe(true);
    await a.elector.stop();
    await b.elector.stop();
  });

  it('loses a write race with 409 and keeps campaigning', async () => {
    const clock = new FakeClock();
    const api = new FakeLeases();
    const a = contender(api, clock, 'a');
    const b = contender(api, clock, 'b');
    await clock.advance(0);
    expect([a.elector.isLeader(), b.elector.isLeader()].filter(Boolean)).toHaveLength(1);
    await clock.advance(30_000);
    expect([a.elector.isLeader(), b.elector.isLeader()].filter(Boolean)).toHaveLength(1);
    expect(api.lease?.spec?.leaseTransitions).toBe(0);
    await Promise.all([a.elector.stop(), b.elector.stop()]);
  });

  it('refuses timings that break the algorithm', () => {
    const base = { api: new FakeLeases(), logger, namespace: 'ns', name: 'l', identity: 'a' };
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 1500 })).toThrow(
      LeaderElectionConfigError,
    );
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 10_000 })).toThrow(
      /leaseDuration must exceed renewDeadline/,
    );
    expect(() => new LeaderElector({ ...base, renewDeadlineMs: 2_000 })).toThrow(/retryPeriod/);
    expect(() => new LeaderElector({ ...base, identity: '' })).toThrow(/identity/);
  });
});
