import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Controller, type Reconciler } from './controller.ts';
import { FakeClock } from './fake-clock.ts';

const logger = pino({ level: 'silent' });

function setup(reconcile: Reconciler, keys?: string[]) {
  const clock = new FakeClock();
  const registry = new Registry();
  const controller = new Controller({
    name: 'costpolicy',
    reconcile,
    registry,
    logger,
    clock,
    ...(keys ? { resync: { intervalMs: 60_000, keys: () => keys } } : {}),
  });
  const running = controller.start();
  return { clock, registry, controller, running };
}

async function total(registry: Registry, result: string): Promise<number> {
  const data = await registry.getSingleMetric('controller_runtime_reconcile_total')?.get();
  return data?.values.find((v) => v.labels.result === result)?.value ?? NaN;
}

describe('Controller', () => {
  it('retries failures with backoff and forgets the key after success', async () => {
    let calls = 0;
    const { clock, registry, controller } = setup(async () => {
      calls++;
      if (calls <= 2) throw new Error('apiserver unavailable');
    });
    controller.enqueue('p');
    await clock.advance(0);
    expect(calls).toBe(1);
    expect(controller.queue.numRequeues('p')).toBe(1);
    await clock.advance(5);
    expect(calls).toBe(2);
    await clock.advance(9);
    expect(calls).toBe(2);
    await clock.advance(1);
    expect(calls).toBe(3);
    expect(controller.queue.numRequeues('p')).toBe(0);
    expect(await total(registry, 'error')).toBe(2);
    expect(await total(registry, 'success')).toBe(1);
    const errors = await registry
      .getSingleMetric('controller_runtime_reconcile_errors_total')
      ?.get();
    expect(errors?.values[0]?.value).toBe(2);
    await controller.stop();
  });

  it('requeues after the requested delay', async () => {
    let calls = 0;
    const { clock, registry, controller } = setup(async () => {
      calls++;
      return { requeueAfter: 30_000 };
    });
    controller.enqueue('p');
    await clock.advance(29_999);
    expect(calls).toBe(1);
    await clock.advance(1);
    expect(calls).toBe(2);
    expect(await total(registry, 'requeue_after')).toBe(2);
    await controller.stop();
  });

  it('runs a key added during its reconcile once more afterwards, never at the same time', async () => {
    let active = 0;
    let maxActive = 0;
    const seen: string[] = [];
    const { clock, controller } = setup(async (key) => {
      seen.push(key);
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise((r) => clock.setTimeout(() => r(undefined), 100));
      active--;
    });
    controller.enqueue('a');
    await clock.advance(10);
    controller.enqueue('a');
    controller.enqueue('a');
    await clock.advance(500);
    expect(maxActive).toBe(1);
    expect(seen).toEqual(['a', 'a']);
    await controller.stop();
  });

  it('re-enqueues every key on resync', async () => {
    const seen: string[] = [];
    const { clock, controller } = setup(
      async (key) => {
        seen.push(key);
      },
      ['x', 'y'],
    );
    await clock.advance(60_000);
    expect(seen).toEqual(['x', 'y']);
    await clock.advance(60_000);
    expect(seen).toEqual(['x', 'y', 'x', 'y']);
    await controller.stop();
    expect(clock.pendingTimers).toBe(0);
  });

  it('stop() lets a running reconcile finish and ends start()', async () => {
    let finished = false;
    const { clock, controller, running } = setup(async () => {
      await new Promise((r) => clock.setTimeout(() => r(undefined), 1000));
      finished = true;
    });
    controller.enqueue('p');
    await clock.advance(1);
    const stopping = controller.stop();
    await clock.advance(1000);
    await stopping;
    await running;
    expect(finished).toBe(true);
  });
});
