import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { TimeSlice } from './time-slice.ts';

/** Busy-waits `ms` of wall time: synchronous work as the event loop sees it. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

describe('TimeSlice', () => {
  it('is not spent within its budget', () => {
    const slice = new TimeSlice(60_000);
    busy(2);
    expect(slice.spent()).toBe(false);
  });

  it('is spent once the budget has run, and starts afresh after next()', async () => {
    const slice = new TimeSlice(2);
    busy(3);
    expect(slice.spent()).toBe(true);
    await slice.next();
    expect(slice.spent()).toBe(false);
  });

  it('lets work that is waiting on the event loop run between slices', async () => {
    const order: string[] = [];
    const slice = new TimeSlice(1);
    void nextTurn().then(() => order.push('waiting request'));
    for (let i = 0; i < 3; i++) {
      busy(2);
      order.push(`slice ${i}`);
      if (slice.spent()) await slice.next();
    }
    expect(order).toEqual(['slice 0', 'waiting request', 'slice 1', 'slice 2']);
  });
});
