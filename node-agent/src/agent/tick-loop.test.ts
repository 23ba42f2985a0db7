import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TickLoop, type TickReason } from './tick-loop.ts';

function recorder() {
  const calls: string[] = [];
  const target = {
    tick: async (reason: TickReason) => void calls.push(`tick:${reason}`),
    flush: async () => void calls.push('flush'),
  };
  return { calls, target };
}

describe('TickLoop', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_000_250);
  });
  afterEach(() => vi.useRealTimers());

  it('ticks at start, then on wall-clock multiples of the tick, each followed by afterTick', async () => {
    const { calls, target } = recorder();
    const loop = new TickLoop({
      target,
      tickMs: 1000,
      afterTick: () => void calls.push(`after@${Date.now()}`),
    });
    await loop.start();
    expect(calls).toEqual(['tick:timer', 'after@1000000250']);
    await vi.advanceTimersByTimeAsync(749);
    expect(calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls).toEqual([
      'tick:timer',
      'after@1000000250',
      'tick:timer',
      'after@1000001000',
      'tick:timer',
      'after@1000002000',
    ]);
    await loop.stop();
  });

  it('stop() ends timed ticks, then takes the final tick and writes the held ones', async () => {
    const { calls, target } = recorder();
    const loop = new TickLoop({ target, tickMs: 1000 });
    await loop.start();
    await loop.stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(calls).toEqual(['tick:timer', 'tick:shutdown', 'flush']);
  });

  it('takes out-of-band ticks only while running', async () => {
    const { calls, target } = recorder();
    const loop = new TickLoop({ target, tickMs: 1000 });
    expect(await loop.tickNow('pod-gone')).toBe(false);
    await loop.start();
    expect(await loop.tickNow('pod-gone')).toBe(true);
    await loop.stop();
    expect(await loop.tickNow('pod-gone')).toBe(false);
    expect(calls).toEqual(['tick:timer', 'tick:pod-gone', 'tick:shutdown', 'flush']);
  });

  it('stopped before it started, it takes no final tick; stopped twice, one', async () => {
    const idle = recorder();
    await new TickLoop({ target: idle.target, tickMs: 1000 }).stop();
    expect(idle.calls).toEqual([]);

    const running = recorder();
    const loop = new TickLoop({ target: running.target, tickMs: 1000 });
    await loop.start();
    await Promise.all([loop.stop(), loop.stop()]);
    expect(running.calls).toEqual(['tick:timer', 'tick:shutdown', 'flush']);
    await expect(loop.start()).rejects.toThrow('cannot start when stopped');
  });
});
