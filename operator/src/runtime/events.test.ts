import {
  ApiException,
  type EventsV1Api,
  type EventsV1ApiCreateNamespacedEventRequest,
  type EventsV1ApiPatchNamespacedEventRequest,
  type EventsV1Event,
} from '@kubernetes/client-node';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { EventRecorder, truncateNote, type EventsApi } from './events.ts';
import { FakeClock } from './fake-clock.ts';

const logger = pino({ level: 'silent' });

class FakeEvents implements EventsApi {
  readonly events = new Map<string, EventsV1Event>();
  readonly mergeStrategies: string[] = [];
  failCreate = false;

  async createNamespacedEvent(param: EventsV1ApiCreateNamespacedEventRequest) {
    if (this.failCreate) throw new ApiException(500, 'boom', '', {});
    const name = param.body.metadata?.name ?? '';
    if (this.events.has(`${param.namespace}/${name}`)) {
      throw new ApiException(409, 'already exists', '', {});
    }
    const stored = JSON.parse(JSON.stringify(param.body)) as EventsV1Event;
    this.events.set(`${param.namespace}/${name}`, stored);
    return stored;
  }

  async patchNamespacedEvent(
    param: EventsV1ApiPatchNamespacedEventRequest,
    options?: Parameters<EventsV1Api['patchNamespacedEvent']>[1],
  ) {
    this.mergeStrategies.push(options?.middlewareMergeStrategy ?? 'replace');
    const event = this.events.get(`${param.namespace}/${param.name}`);
    if (!event) throw new ApiException(404, 'not found', '', {});
    Object.assign(event, JSON.parse(JSON.stringify(param.body)));
    return event;
  }
}

function setup() {
  const clock = new FakeClock(new Date('2026-05-01T12:00:00Z'));
  const api = new FakeEvents();
  const registry = new Registry();
  const recorder = new EventRecorder({
    api,
    clock,
    logger,
    registry,
    reportingInstance: 'operator-0',
    seriesWindowMs: 60_000,
  });
  return { clock, api, registry, recorder };
}

const policy = { apiVersion: 'agentmeter.dev/v1alpha1', kind: 'CostPolicy', name: 'team-a' };
const warning = {
  type: 'Warning' as const,
  reason: 'BudgetExceeded',
  action: 'Evaluate',
  note: 'over budget',
};

async function outcomes(registry: Registry): Promise<Record<string, number>> {
  const data = await registry.getSingleMetric('agentmeter_operator_events_total')?.get();
  return Object.fromEntries((data?.values ?? []).map((v) => [v.labels.outcome, v.value]));
}

describe('EventRecorder', () => {
  it('creates an events.k8s.io/v1 Event in default for a cluster-scoped object', async () => {
    const { api, recorder } = setup();
    await recorder.record(policy, warning);
    const [key, event] = [...api.events][0] ?? [];
    expect(key).toMatch(/^default\/team-a\.[0-9a-f]+$/);
    expect(event).toMatchObject({
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      eventTime: '2026-05-01T12:00:00.000000Z',
      reportingController: 'agentmeter.dev/operator',
      reportingInstance: 'operator-0',
      action: 'Evaluate',
      reason: 'BudgetExceeded',
      note: 'over budget',
      type: 'Warning',
      regarding: policy,
    });
  });

  it('turns repeats within the window into a series, with a merge patch', async () => {
    const { api, clock, registry, recorder } = setup();
    await recorder.record(policy, warning);
    await clock.advance(10_000);
    await Promise.all([recorder.record(policy, warning), recorder.record(policy, warning)]);
    expect(api.events.size).toBe(1);
    const [event] = api.events.values();
    expect(event?.series).toEqual({ count: 3, lastObservedTime: '2026-05-01T12:00:10.000000Z' });
    expect(api.mergeStrategies).toEqual(['append', 'append']);

    await clock.advance(61_000);
    await recorder.record(policy, warning);
    expect(api.events.size).toBe(2);
    expect(await outcomes(registry)).toEqual({
      created: 2,
      series_updated: 2,
      already_exists: 0,
      failed: 0,
    });
  });

  it('keeps different notes, objects and namespaces apart', async () => {
    const { api, recorder } = setup();
    await recorder.record(policy, warning);
    await recorder.record(policy, { ...warning, note: 'still over budget' });
    await recorder.record({ ...policy, name: 'team-b' }, warning);
    await recorder.record({ apiVersion: 'v1', kind: 'Pod', name: 'p', namespace: 'ns1' }, warning);
    expect([...api.events.keys()].map((k) => k.replace(/\.[0-9a-f]+$/, ''))).toEqual([
      'default/team-a',
      'default/team-a',
      'default/team-b',
      'ns1/p',
    ]);
  });

  it('creates a new Event when the one in the series has expired', async () => {
    const { api, recorder } = setup();
    await recorder.record(policy, warning);
    api.events.clear();
    await recorder.record(policy, warning);
    expect(api.events.size).toBe(1);
    expect([...api.events.values()][0]?.series).toBeUndefined();
  });

  it('creates an Event of a fixed name once, whichever replica records it', async () => {
    const first = setup();
    const otherRegistry = new Registry();
    const other = new EventRecorder({
      api: first.api,
      clock: first.clock,
      logger,
      registry: otherRegistry,
      reportingInstance: 'operator-1',
    });
    const named = { ...warning, reason: 'SpendAnomaly', name: 'team-a.anomaly.0123456789abcdef0' };
    await first.recorder.record(policy, named);
    await other.record(policy, named);
    expect([...first.api.events.keys()]).toEqual(['default/team-a.anomaly.0123456789abcdef0']);
    expect(await outcomes(first.registry)).toMatchObject({ created: 1, failed: 0 });
    expect(await outcomes(otherRegistry)).toMatchObject({ already_exists: 1, failed: 0 });
  });

  it('logs and counts failures instead of throwing', async () => {
    const { api, registry, recorder } = setup();
    api.failCreate = true;
    await expect(recorder.record(policy, warning)).resolves.toBeUndefined();
    expect(await outcomes(registry)).toMatchObject({ failed: 1, created: 0 });
  });
});

describe('truncateNote', () => {
  it('cuts to 1024 bytes of UTF-8 without splitting characters', () => {
    expect(truncateNote('short')).toBe('short');
    expect(truncateNote('x'.repeat(2000))).toHaveLength(1024);
    const cut = truncateNote('a' + 'é'.repeat(600));
    expect(Buffer.byteLength(cut)).toBe(1023);
    expect(cut.endsWith('é')).toBe(true);
  });
});
