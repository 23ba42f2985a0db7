import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FakeClock, flushMicrotasks } from './fake-clock.ts';
import {
  BucketRateLimiter,
  ItemExponentialRateLimiter,
  defaultControllerRateLimiter,
} from './rate-limiter.ts';
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
  it('de-duplicates keys that are already queued', async () => {
    const { queue, registry } = setup();
    queue.add('a');
    queue.add('b');
    queue.add('a');
    expect(queue.len()).toBe(2);
    expect(await queue.get()).toBe('a');
    expect(await queue.get()).toBe('b');
    expect(await metric(registry, 'workqueue_adds_total')).toBe(2);
  });

  it('re-queues a key added while it is processed only after done()', async () => {
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

  it('never hands the same key to two workers at once', async () => {
    const { queue } = setup();
    const w1 = pending(queue);
    const w2 = pending(queue);
    queue.add('a');
    await flushMicrotasks();
    expect([w1.state.settled, w2.state.settled]).toEqual([true, false]);
    queue.add('a');
    await flushMicrotasks();
    expect(w2.state.settled).toBe(false);
    queue.add('b');
    expect(await w2.promise).toBe('b');
    const w3 = pending(queue);
    await flushMicrotasks();
    expect(w3.state.settled).toBe(false);
    queue.done('a');
    expect(await w3.promise).toBe('a');
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

  it('rate limits retries with per-key exponential backoff, reset by forget()', async () => {
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
  });

  it('hands out queued keys after shutDown, then resolves get() with undefined', async () => {
    const { queue, clock } = setup();
    queue.add('a');
    queue.addAfter('b', 10);
    queue.shutDown();
    queue.add('c');
    expect(await queue.get()).toBe('a');
    expect(await queue.get()).toBeUndefined();
    await clock.advance(20);
    expect(queue.len()).toBe(0);
  });

  it('wakes waiting workers on shutDown', async () => {
    const { queue } = setup();
    const waiting = queue.get();
    queue.shutDown();
    expect(await waiting).toBeUndefined();
  });

  it('shutDownWithDrain waits for keys in processing to be done', async () => {
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

  it('exports depth, durations and in-flight work with the name label', async () => {
    const { queue, clock, registry } = setup();
    queue.add('a');
    queue.add('b');
    expect(await metric(registry, 'workqueue_depth')).toBe(2);
    await clock.advance(250);
    expect(await queue.get()).toBe('a');
    expect(await metric(registry, 'workqueue_depth')).toBe(1);
    expect(await metric(registry, 'workqueue_queue_duration_seconds', '_sum')).toBeCloseTo(0.25);
    await clock.advance(1000);
    expect(await queue.get()).toBe('b');
    await clock.advance(500);
    expect(await metric(registry, 'workqueue_unfinished_work_seconds')).toBeCloseTo(2.0);
    expect(await metric(registry, 'workqueue_longest_running_processor_seconds')).toBeCloseTo(1.5);
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

describe('rate limiters', () => {
  it('backs off 5 ms·2^(n−1) per key, capped at 1000 s', () => {
    const limiter = new ItemExponentialRateLimiter(5, 1_000_000);
    const delays = Array.from({ length: 20 }, () => limiter.when('a'));
    expect(delays.slice(0, 5)).toEqual([5, 10, 20, 40, 80]);
    expect(delays[17]).toBe(655_360);
    expect(delays[18]).toBe(1_000_000);
    expect(delays[19]).toBe(1_000_000);
    expect(limiter.when('b')).toBe(5);
    limiter.forget('a');
    expect(limiter.when('a')).toBe(5);
  });

  it('lets a burst of 100 through, then paces at 10 per second', async () => {
    const clock = new FakeClock();
    const bucket = new BucketRateLimiter(10, 100, clock);
    const burst = Array.from({ length: 100 }, () => bucket.when());
    expect(burst.every((d) => d === 0)).toBe(true);
    expect(bucket.when()).toBeCloseTo(100);
    expect(bucket.when()).toBeCloseTo(200);
    await clock.advance(1000);
    expect(bucket.when()).toBe(0);
  });

  it('takes the larger of the per-key and overall delays by default', () => {
    const clock = new FakeClock();
    const limiter = defaultControllerRateLimiter(clock);
    for (let i = 0; i < 100; i++) limiter.when(`k${i}`);
    // Bucket exhausted: a fresh key waits for a token, not 5 ms.
    expect(limiter.when('fresh')).toBeCloseTo(100);
    expect(limiter.numRequeues('fresh')).toBe(1);
    limiter.forget('fresh');
    expect(limiter.numRequeues('fresh')).toBe(0);
  });
});
