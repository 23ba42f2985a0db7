import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FakeClock, flushMicrotasks } from './fake-clock.ts';
import { WorkQueue } from './workqueue.ts';

function setup() {
  const clock = new FakeClock();
  const registry = new Registry();
  const queue = new WorkQueue({ name: 'test', registry, clock });
  return { clock, registry, queue };
}

async function metric(registry: Registry, name: string, suffix = ''): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (!m) throw new Error(`metric ${name} not registered`);
  const data = await m.get();
  // Histogram values carry the series name (_sum, _count, _bucket) in metricName.
  const value = data.values.find(
    (v) =>
      v.labels.name === 'test' &&
      (suffix === '' || (v as { metricName?: string }).metricName === name + suffix),
  );
  return value?.value ?? NaN;
}

/** Starts a get() and reports whether it has resolved yet. */
function pending(queue: WorkQueue) {
  const state: { key: string | undefined; settled: boolean } = { key: undefined, settled: false };
  const promise = queue.get().then((key) => {
    state.key = key;
    state.settled = true;
    return key;
  });
  return { state, promise };
}

describe('WorkQueue', () => {
  it('de-duplicates keys that are already queued, and hands them out in order', async () => {
    const { queue, registry } = setup();
    queue.add('a');
    queue.add('b');
    queue.add('a');
    expect(queue.len()).toBe(2);
    expect(await queue.get()).toBe('a');
    queue.done('a');
    expect(await queue.get()).toBe('b');
    expect(await metric(registry, 'workqueue_adds_total')).toBe(2);
  });

  it('holds a key added while it is processed until done(), then hands it out once', async () => {
    const { queue } = setup();
    queue.add('a');
    expect(await queue.get()).toBe('a');
    queue.add('a');
    queue.add('a');
    expect(queue.len()).toBe(0);
    const second = pending(queue);
    await flushMicrotasks();
    expect(second.state.settled).toBe(false);
    queue.done('a');
    expect(await second.promise).toBe('a');
    queue.done('a');
    expect(queue.len()).toBe(0);
  });

  it('hands out nothing while a key is processed', async () => {
    const { queue } = setup();
    queue.add('a');
    expect(await queue.get()).toBe('a');
    queue.add('b');
    const next = pending(queue);
    await flushMicrotasks();
    expect(next.state.settled).toBe(false);
    queue.done('a');
    expect(await next.promise).toBe('b');
  });

  it('keeps the earliest of several delayed adds of one key', async () => {
    const { queue, clock, registry } = setup();
    queue.addAfter('a', 100);
    queue.addAfter('a', 50);
    queue.addAfter('a', 80);
    await clock.advance(49);
    expect(queue.len()).toBe(0);
    await clock.advance(1);
    expect(queue.len()).toBe(1);
    await clock.advance(100);
    expect(clock.pendingTimers).toBe(0);
    expect(await metric(registry, 'workqueue_adds_total')).toBe(1);
    expect(await metric(registry, 'workqueue_retries_total')).toBe(3);
  });

  it('adds immediately for a non-positive delay', () => {
    const { queue } = setup();
    queue.addAfter('a', 0);
    expect(queue.len()).toBe(1);
  });

  it('backs off 5 ms·2^(n−1) per key up to 1000 s, reset by forget()', async () => {
    const { queue, clock } = setup();
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const before = clock.now();
      queue.addRateLimited('a');
      while (queue.len() === 0) await clock.advance(1);
      delays.push(clock.now() - before);
      expect(await queue.get()).toBe('a');
      queue.done('a');
    }
    expect(delays).toEqual([5, 10, 20, 40]);
    expect(queue.numRequeues('a')).toBe(4);
    queue.forget('a');
    expect(queue.numRequeues('a')).toBe(0);
    // 5·2^18 ms is past the cap.
    for (let n = 0; n < 20; n++) {
      queue.addRateLimited('b');
      await clock.advance(Math.min(5 * 2 ** n, 1_000_000) - 1);
      expect(queue.len()).toBe(0);
      await clock.advance(1);
      expect(await queue.get()).toBe('b');
      queue.done('b');
    }
  });

  it('after shutdown hands out what is queued, then resolves get() with undefined', async () => {
    const { queue, clock } = setup();
    queue.add('a');
    queue.addAfter('b', 10);
    await queue.shutDownWithDrain();
    queue.add('c');
    expect(await queue.get()).toBe('a');
    queue.done('a');
    expect(await queue.get()).toBeUndefined();
    await clock.advance(20);
    expect(queue.len()).toBe(0);
  });

  it('wakes a waiting caller on shutdown', async () => {
    const { queue } = setup();
    const waiting = queue.get();
    await queue.shutDownWithDrain();
    expect(await waiting).toBeUndefined();
  });

  it('shutDownWithDrain waits for the key in processing to be done', async () => {
    const { queue } = setup();
    queue.add('a');
    expect(await queue.get()).toBe('a');
    let drained = false;
    const drain = queue.shutDownWithDrain().then(() => {
      drained = true;
    });
    await flushMicrotasks();
    expect(drained).toBe(false);
    queue.done('a');
    await drain;
    expect(drained).toBe(true);
  });

  it('exports depth and durations with the name label', async () => {
    const { queue, clock, registry } = setup();
    queue.add('a');
    queue.add('b');
    expect(await metric(registry, 'workqueue_depth')).toBe(2);
    await clock.advance(250);
    expect(await queue.get()).toBe('a');
    expect(await metric(registry, 'workqueue_depth')).toBe(1);
    expect(await metric(registry, 'workqueue_queue_duration_seconds', '_sum')).toBeCloseTo(0.25);
    await clock.advance(1500);
    queue.done('a');
    expect(await metric(registry, 'workqueue_work_duration_seconds', '_sum')).toBeCloseTo(1.5);
    expect(await metric(registry, 'workqueue_work_duration_seconds', '_count')).toBe(1);
  });

  it('lets several queues share one registry', async () => {
    const registry = new Registry();
    const one = new WorkQueue({ name: 'one', registry, clock: new FakeClock() });
    const two = new WorkQueue({ name: 'two', registry, clock: new FakeClock() });
    one.add('x');
    two.add('x');
    two.add('y');
    const depth = await registry.getSingleMetric('workqueue_depth')?.get();
    expect(depth?.values.map((v) => [v.labels.name, v.value])).toEqual([
      ['one', 1],
      ['two', 2],
    ]);
  });
});
