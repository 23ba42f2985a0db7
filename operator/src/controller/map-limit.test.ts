import { describe, expect, it } from 'vitest';
import { mapLimit } from './map-limit.ts';

describe('mapLimit', () => {
  it('keeps the order of the results and never runs more than the limit at once', async () => {
    let active = 0;
    let most = 0;
    const out = await mapLimit([30, 10, 20, 0, 5], 2, async (n, i) => {
      active++;
      most = Math.max(most, active);
      await new Promise((r) => setImmediate(r));
      active--;
      return n + i;
    });
    expect(out).toEqual([30, 11, 22, 3, 9]);
    expect(most).toBe(2);
  });

  it('returns an empty list for no items and passes a failure on', async () => {
    expect(await mapLimit([], 4, async () => 1)).toEqual([]);
    await expect(
      mapLimit([1], 4, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
  });
});
