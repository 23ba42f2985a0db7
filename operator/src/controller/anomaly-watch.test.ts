import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { addHourly, HourlyBook, type HourlyAdds } from '../anomaly/hourly-book.ts';
import { HOUR_MS, WEEK_HOURS } from '../anomaly/hourly-series.ts';
import { OperatorMetrics } from '../metrics.ts';
import type { EventInput } from '../runtime/index.ts';
import { AnomalyWatch, anomalyEventName } from './anomaly-watch.ts';
import { costPolicy, recordingEvents } from './test-support.ts';

const USD = 1_000_000_000n;
// A Monday 00:00 UTC, five weeks before the spike.
const START = Date.parse('2026-04-06T00:00:00Z');

/** Five weeks of 1 USD an hour in two namespaces (busier in the day), then `spike` in ns-a. */
function book(spike: bigint): { book: HourlyBook; spikeHourMs: number } {
  const b = new HourlyBook();
  const hours = 5 * WEEK_HOURS;
  const adds: HourlyAdds = new Map();
  for (let h = 0; h < hours; h++) {
    const at = START + h * HOUR_MS;
    const day = new Date(at).getUTCHours() >= 8 ? 2n : 1n;
    addHourly(adds, 'namespace:ns-a', at, day * USD);
    addHourly(adds, 'namespace:ns-b', at, day * USD + BigInt(h % 3) * 10_000_000n);
  }
  const spikeHourMs = START + hours * HOUR_MS;
  addHourly(adds, 'namespace:ns-a', spikeHourMs, spike);
  addHourly(adds, 'namespace:ns-b', spikeHourMs, USD);
  b.add('p', adds, START);
  return { book: b, spikeHourMs };
}

describe('anomaly watch', () => {
  it('raises one Event per new finding once the hour has closed, and counts it by dimension', async () => {
    const { book: history, spikeHourMs } = book(40n * USD);
    const events = recordingEvents();
    const metrics = new OperatorMetrics(new Registry());
    const watch = new AnomalyWatch({ history, events, metrics });
    const policy = costPolicy('p');
    // The spike hour is still open: judged is the hour before, which is normal.
    expect(await watch.check([policy], spikeHourMs + 10 * 60_000)).toEqual([]);
    const closed = spikeHourMs + HOUR_MS + 60_000;
    const raised = await watch.check([policy], closed);
    expect(raised.map((f) => [f.dimension, f.key, f.windowHours])).toEqual([
      ['namespace', 'ns-a', 1],
      ['namespace', 'ns-a', 24],
    ]);
    expect(events.recorded.map((e) => e.input.reason)).toEqual(['SpendAnomaly', 'SpendAnomaly']);
    expect(events.recorded[0]?.input.note).toMatch(/^namespace ns-a spent 40 USD in the last 1 h/);
    // The same hour is judged once.
    expect(await watch.check([policy], closed + 60_000)).toEqual([]);
    const text = await metrics.registry.getSingleMetricAsString('agentmeter_spend_anomalies');
    expect(text).toContain(
      'agentmeter_spend_anomalies{policy="p",dimension="namespace",window_hours="1"} 1',
    );
  });

  it('raises no Event twice across a failover, in the same hour or the next', async () => {
    const { book: history, spikeHourMs } = book(40n * USD);
    // The apiserver's side: an Event of a name that exists is not created again.
    const stored = new Map<string, EventInput>();
    const events = {
      record: async (_ref: unknown, input: EventInput) => {
        if (input.name === undefined) throw new Error('a SpendAnomaly Event without a fixed name');
        if (!stored.has(input.name)) stored.set(input.name, input);
      },
    };
    const leader = () =>
      new AnomalyWatch({ history, events, metrics: new OperatorMetrics(new Registry()) });
    const policy = costPolicy('p');
    const closed = spikeHourMs + HOUR_MS + 60_000;
    expect(await leader().check([policy], closed)).toHaveLength(2);
    expect(stored.size).toBe(2);
    // A new leader later in the same hour judges the hour again and names the same Events.
    expect(await leader().check([policy], closed + 30 * 60_000)).toHaveLength(2);
    expect(stored.size).toBe(2);
    // In the next hour the 24-hour finding goes on: a new leader knows it from the hour before.
    const next = closed + HOUR_MS;
    const old = leader();
    await old.check([policy], closed);
    expect(await old.check([policy], next)).toEqual([]);
    expect(await leader().check([policy], next)).toEqual([]);
    expect(stored.size).toBe(2);
    const hour = Math.floor(spikeHourMs / HOUR_MS);
    expect([...stored.keys()].sort()).toEqual(
      ['namespace/1/ns-a', 'namespace/24/ns-a'].map((f) => anomalyEventName('p', f, hour)).sort(),
    );
  });

  it('names Events as DNS subdomains, whatever the policy name', () => {
    const name = anomalyEventName(`${'a'.repeat(226)}-b`, 'namespace/1/x', 1);
    expect(name).toMatch(/^a{226}\.anomaly\.[0-9a-f]{17}$/);
    expect(anomalyEventName('p', 'namespace/1/x', 1)).not.toBe(
      anomalyEventName('p', 'namespace/1/x', 2),
    );
  });

  it('stays quiet on an hour that follows the rhythm', async () => {
    const { book: history, spikeHourMs } = book(2n * USD);
    const events = recordingEvents();
    const watch = new AnomalyWatch({
      history,
      events,
      metrics: new OperatorMetrics(new Registry()),
    });
    expect(await watch.check([costPolicy('p')], spikeHourMs + HOUR_MS + 1)).toEqual([]);
    expect(events.recorded).toEqual([]);
  });
});

describe('hourly book', () => {
  it('starts series at the first hour it counted, bounds sessions to two days, forgets policies', () => {
    const b = new HourlyBook();
    const adds: HourlyAdds = new Map();
    addHourly(adds, 'session:a/1', START, 5n);
    addHourly(adds, 'namespace:a', START, 5n);
    b.add('p', adds, START);
    expect(b.series('p', 'namespace:a', 0, Math.floor(START / HOUR_MS) + 1)).toEqual({
      firstHour: Math.floor(START / HOUR_MS),
      nano: [5n, 0n],
    });
    b.add('p', new Map(), START + 48 * HOUR_MS);
    expect(b.streams('p', 'session:')).toEqual([]);
    expect(b.streams('p', 'namespace:')).toEqual(['namespace:a']);
    b.forget('p');
    expect(b.series('p', 'namespace:a', 0, 1)).toBeUndefined();
  });
});
