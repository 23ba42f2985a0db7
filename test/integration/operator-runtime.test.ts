// The operator's controller machinery against the real apiserver: Lease leader election,
// events.k8s.io/v1 events with series aggregation, the merge-patch content type, and a
// controller woken by CostPolicy spec changes but not by status writes.
import { Informer } from '@agentmeter/kube-client';
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  type EventsV1Event,
  type KubernetesObject,
  type V1Lease,
} from '@kubernetes/client-node';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Controller,
  EventRecorder,
  enqueueOnSpecChange,
  LeaderElector,
  mergePatchOptions,
  type LeaderElectorOptions,
} from '../../operator/src/runtime/index.ts';
import { adminKubeConfig, adminRestClient, kubectl } from '../support/kube.ts';

const logger = pino({ level: process.env.TEST_LOG ?? 'silent' });
const kc = adminKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const coordination = kc.makeApiClient(CoordinationV1Api);
const eventsApi = kc.makeApiClient(EventsV1Api);
const namespace = `operator-runtime-${Date.now()}`;
const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

/** Polls `check` until it returns a value other than undefined/false, or fails after timeoutMs. */
async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The Lease as the apiserver stores it, without client-side deserialization. */
async function rawLease(name: string): Promise<V1Lease> {
  const res = await kubectl(['get', 'lease', name, '-n', namespace, '-o', 'json']);
  if (res.code !== 0) throw new Error(`kubectl get lease ${name}: ${res.stderr}`);
  return JSON.parse(res.stdout) as V1Lease;
}

function elector(
  name: string,
  identity: string,
  extra: Partial<LeaderElectorOptions> = {},
): { elector: LeaderElector; newLeaders: string[]; started: () => number; stopped: () => number } {
  const newLeaders: string[] = [];
  let started = 0;
  let stopped = 0;
  const e = new LeaderElector({
    api: coordination,
    namespace,
    name,
    identity,
    logger,
    // Short timings so the suite runs in seconds; the ratios match the 15/10/2 s defaults.
    leaseDurationMs: 2000,
    renewDeadlineMs: 1500,
    retryPeriodMs: 300,
    callbacks: {
      onStartedLeading: () => started++,
      onStoppedLeading: () => stopped++,
      onNewLeader: (id) => newLeaders.push(id),
    },
    ...extra,
  });
  return { elector: e, newLeaders, started: () => started, stopped: () => stopped };
}

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
});

afterAll(async () => {
  await core.deleteNamespace({ name: namespace });
});

describe('Lease leader election', () => {
  it('elects exactly one of two contenders and fails over after leaseDuration', async () => {
    const a = elector('contended', 'replica-a');
    const b = elector('contended', 'replica-b');
    const runs = [a.elector.run(), b.elector.run()];
    try {
      const leader = await eventually('a leader', () =>
        a.elector.isLeader() ? a : b.elector.isLeader() ? b : undefined,
      );
      const follower = leader === a ? b : a;
      const leaderId = leader === a ? 'replica-a' : 'replica-b';
      const followerId = leader === a ? 'replica-b' : 'replica-a';

      // Several renew periods later there is still exactly one leader, and both agree who.
      await new Promise((r) => setTimeout(r, 1500));
      expect(leader.elector.isLeader()).toBe(true);
      expect(follower.elector.isLeader()).toBe(false);
      expect(follower.elector.leader()).toBe(leaderId);
      expect(follower.newLeaders).toEqual([leaderId]);
      expect(leader.started()).toBe(1);

      const before = await rawLease('contended');
      expect(before.spec?.holderIdentity).toBe(leaderId);
      expect(before.spec?.leaseDurationSeconds).toBe(2);
      expect(before.spec?.leaseTransitions).toBe(0);
      expect(before.spec?.renewTime).toMatch(MICRO_TIME);
      expect(before.spec?.acquireTime).toMatch(MICRO_TIME);

      // Simulated crash: the leader stops renewing and does not release the lease.
      const crashedAt = Date.now();
      await leader.elector.stop();
      expect((await rawLease('contended')).spec?.holderIdentity).toBe(leaderId);
      await eventually('the follower to take over', () => follower.elector.isLeader());
      // It had to wait for the lease to expire, not merely notice the leader was gone.
      expect(Date.now() - crashedAt).toBeGreaterThan(1000);

      const after = await rawLease('contended');
      expect(after.spec?.holderIdentity).toBe(followerId);
      expect(after.spec?.leaseTransitions).toBe(1);
      expect(after.spec?.acquireTime).toMatch(MICRO_TIME);
      expect(after.spec?.acquireTime).not.toBe(before.spec?.acquireTime);
      expect(follower.newLeaders).toEqual([leaderId, followerId]);
      expect(leader.stopped()).toBe(1);
      expect(follower.started()).toBe(1);

      // The new leader keeps renewing: renewTime moves while acquireTime stays.
      const renewed = await eventually('a renewal', async () => {
        const l = await rawLease('contended');
        return l.spec?.renewTime !== after.spec?.renewTime ? l : undefined;
      });
      expect(renewed.spec?.acquireTime).toBe(after.spec?.acquireTime);
      expect(renewed.spec?.leaseTransitions).toBe(1);
    } finally {
      await Promise.all([a.elector.stop(), b.elector.stop()]);
      await Promise.all(runs);
    }
  });

  it('creates a missing Lease and, with releaseOnCancel, clears the holder on stop', async () => {
    const a = elector('released', 'replica-a', { releaseOnCancel: true });
    const run = a.elector.run();
    await eventually('leadership', () => a.elector.isLeader());
    const held = await rawLease('released');
    expect(held.spec?.holderIdentity).toBe('replica-a');
    await a.elector.stop();
    await run;
    const released = await rawLease('released');
    expect(released.spec?.holderIdentity ?? '').toBe('');
    expect(released.spec?.leaseTransitions).toBe(held.spec?.leaseTransitions);
    expect(a.stopped()).toBe(1);

    // A released lease is taken at once, without waiting for expiry.
    const b = elector('released', 'replica-b');
    const takenAt = Date.now();
    const runB = b.elector.run();
    await eventually('takeover of a released lease', () => b.elector.isLeader(), 1500);
    expect(Date.now() - takenAt).toBeLessThan(1500);
    expect((await rawLease('released')).spec?.leaseTransitions).toBe(1);
    await b.elector.stop();
    await runB;
  });
});

describe('event recorder', () => {
  function recorder(registry = new Registry()) {
    return new EventRecorder({
      api: eventsApi,
      reportingInstance: 'operator-0',
      logger,
      registry,
    });
  }

  async function eventsAbout(ns: string, name: string): Promise<EventsV1Event[]> {
    const list = await eventsApi.listNamespacedEvent({ namespace: ns });
    return list.items.filter((e) => e.regarding?.name === name);
  }

  it('creates events.k8s.io/v1 Events in default for cluster-scoped objects and aggregates repeats', async () => {
    const policy = `budget-${Date.now()}`;
    const regarding = { apiVersion: 'agentmeter.dev/v1alpha1', kind: 'CostPolicy', name: policy };
    const registry = new Registry();
    const events = recorder(registry);
    const input = {
      type: 'Warning' as const,
      reason: 'BudgetExceeded',
      action: 'Evaluate',
      note: 'team-a spent 120.00 USD of 100.00 USD',
    };

    await events.record(regarding, input);
    const [first, ...others] = await eventsAbout('default', policy);
    expect(others).toEqual([]);
    expect(first).toMatchObject({
      reportingController: 'agentmeter.dev/operator',
      reportingInstance: 'operator-0',
      reason: 'BudgetExceeded',
      action: 'Evaluate',
      type: 'Warning',
      note: input.note,
      regarding: { kind: 'CostPolicy', name: policy },
    });
    expect(first?.series).toBeUndefined();
    // MicroTime is not deserialized by the client, so this is the apiserver's own string.
    expect(first?.eventTime).toMatch(MICRO_TIME);

    await events.record(regarding, input);
    await events.record(regarding, input);
    const [aggregated, ...more] = await eventsAbout('default', policy);
    expect(more).toEqual([]);
    expect(aggregated?.metadata?.name).toBe(first?.metadata?.name);
    expect(aggregated?.series?.count).toBe(3);
    expect(aggregated?.series?.lastObservedTime).toMatch(MICRO_TIME);

    // A different note is a different event.
    await events.record(regarding, { ...input, note: 'team-a spent 130.00 USD of 100.00 USD' });
    expect(await eventsAbout('default', policy)).toHaveLength(2);

    const counts = await registry.getSingleMetric('agentmeter_operator_events_total')?.get();
    const byOutcome = Object.fromEntries(
      (counts?.values ?? []).map((v) => [v.labels.outcome, v.value]),
    );
    expect(byOutcome).toEqual({ created: 2, series_updated: 2, already_exists: 0, failed: 0 });
  });

  it('creates an Event of a fixed name once: a second recorder (a new leader) finds it and adds nothing', async () => {
    const policy = `fixed-${Date.now()}`;
    const regarding = { apiVersion: 'agentmeter.dev/v1alpha1', kind: 'CostPolicy', name: policy };
    const input = {
      type: 'Warning' as const,
      reason: 'SpendAnomaly',
      action: 'Detect',
      note: 'team-a spent 9.00 USD in an hour',
      name: `${policy}.spend-anomaly.team-a`,
    };
    const first = new Registry();
    const second = new Registry();
    await recorder(first).record(regarding, input);
    await recorder(second).record(regarding, input);
    const found = await eventsAbout('default', policy);
    expect(found.map((e) => e.metadata?.name)).toEqual([input.name]);
    expect(found[0]?.series).toBeUndefined();
    const outcomes = async (r: Registry) =>
      Object.fromEntries(
        ((await r.getSingleMetric('agentmeter_operator_events_total')?.get())?.values ?? []).map(
          (v) => [v.labels.outcome, v.value],
        ),
      );
    expect(await outcomes(first)).toMatchObject({ created: 1, already_exists: 0 });
    expect(await outcomes(second)).toMatchObject({ created: 0, already_exists: 1 });
  });

  it('puts events about namespaced objects in their namespace, and counts failures without throwing', async () => {
    const registry = new Registry();
    const events = recorder(registry);
    await events.record(
      { apiVersion: 'v1', kind: 'Pod', name: 'agent-run-1', namespace },
      { type: 'Normal', reason: 'Suspended', action: 'Suspend', note: 'x'.repeat(5000) },
    );
    const [event] = await eventsAbout(namespace, 'agent-run-1');
    expect(event?.note).toHaveLength(1024);

    // The apiserver refuses an event in a namespace that does not exist; record() still resolves.
    await expect(
      events.record(
        { apiVersion: 'v1', kind: 'Pod', name: 'agent-run-1', namespace: 'no-such-namespace' },
        { type: 'Normal', reason: 'Suspended', action: 'Suspend', note: 'n' },
      ),
    ).resolves.toBeUndefined();
    const counts = await registry.getSingleMetric('agentmeter_operator_events_total')?.get();
    expect(counts?.values.find((v) => v.labels.outcome === 'failed')?.value).toBe(1);
  });
});

describe('merge patch', () => {
  it('is sent with its explicit content type and merges into the object', async () => {
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'patched' }, data: { a: '1' } },
    });
    const merged = await core.patchNamespacedConfigMap(
      { name: 'patched', namespace, body: { data: { b: '2' } } },
      mergePatchOptions(),
    );
    expect(merged.data).toEqual({ a: '1', b: '2' });
  });
});

describe('controller woken by CostPolicy changes', () => {
  it('reconciles on create, spec change and delete, not on a status write', async () => {
    const custom = kc.makeApiClient(CustomObjectsApi);
    const gvk = { group: 'agentmeter.dev', version: 'v1alpha1', plural: 'costpolicies' };
    const name = `operator-runtime-${Date.now()}`;
    const informer = new Informer<KubernetesObject>({
      client: adminRestClient(),
      path: '/apis/agentmeter.dev/v1alpha1/costpolicies',
      fieldSelector: `metadata.name=${name}`,
    });
    let rounds = 0;
    const controller = new Controller({
      name: 'costpolicy',
      registry: new Registry(),
      logger,
      reconcile: async () => {
        rounds++;
      },
    });
    const unsubscribe = enqueueOnSpecChange(informer, controller, 'collect');
    const running = controller.start();
    informer.start();
    /** Waits until the informer holds resourceVersion `rv` of the policy (undefined: gone). */
    const seen = (rv: string | undefined) =>
      eventually(`the informer to see ${rv ?? 'the deletion'}`, () =>
        informer.get(name)?.metadata?.resourceVersion === rv ? true : undefined,
      );
    try {
      await informer.whenSynced();
      const created = (await custom.createClusterCustomObject({
        ...gvk,
        body: {
          apiVersion: 'agentmeter.dev/v1alpha1',
          kind: 'CostPolicy',
          metadata: { name },
          spec: {
            selector: { namespaceSelector: { matchLabels: { team: name } } },
            currency: 'USD',
            rates: { cpuCoreHour: '1' },
          },
        },
      })) as KubernetesObject;
      await seen(created.metadata?.resourceVersion);
      await eventually('the round after the create', () => rounds === 1);

      const statusWritten = (await custom.patchClusterCustomObjectStatus(
        { ...gvk, name, body: { status: { topBudgetUtilization: '1%' } } },
        mergePatchOptions(),
      )) as KubernetesObject;
      await seen(statusWritten.metadata?.resourceVersion);
      // The informer calls its handlers as it updates its cache, and a queued key reaches the
      // reconcile within one turn of the event loop: a round would have started by now.
      await new Promise((r) => setImmediate(r));
      expect(rounds).toBe(1);

      const specChanged = (await custom.patchClusterCustomObject(
        { ...gvk, name, body: { spec: { rates: { cpuCoreHour: '2' } } } },
        mergePatchOptions(),
      )) as KubernetesObject;
      await seen(specChanged.metadata?.resourceVersion);
      await eventually('the round after the spec change', () => rounds === 2);

      await custom.deleteClusterCustomObject({ ...gvk, name });
      await seen(undefined);
      await eventually('the round after the deletion', () => rounds === 3);
    } finally {
      unsubscribe();
      await informer.stop();
      await controller.stop();
      await running;
      await custom.deleteClusterCustomObject({ ...gvk, name }).catch(() => undefined);
    }
  });
});
