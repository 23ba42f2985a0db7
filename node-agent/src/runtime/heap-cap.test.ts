import { describe, expect, it } from 'vitest';
import { HeapCap } from './heap-cap.ts';

/** A heap that grows by what the test allocates and shrinks to `live` when collected. */
function fakeHeap(live: number) {
  const heap = { used: live, live, collections: 0 };
  return {
    heap,
    gc: () => {
      heap.collections++;
      heap.used = heap.live;
    },
    heapUsed: () => heap.used,
  };
}

const MI = 1024 * 1024;

describe('HeapCap', () => {
  it('collects only once the heap has grown more than the cap above the live size', () => {
    const { heap, gc, heapUsed } = fakeHeap(10 * MI);
    const cap = new HeapCap({ capBytes: 6 * MI, gc, heapUsed });
    expect(cap.check()).toBe(false);
    heap.used = 16 * MI;
    expect(cap.check()).toBe(false);
    heap.used = 16 * MI + 1;
    expect(cap.check()).toBe(true);
    expect(heap.collections).toBe(1);
    expect(heap.used).toBe(10 * MI);
  });

  it("measures growth from the live size after V8's own collections too", () => {
    const { heap, gc, heapUsed } = fakeHeap(10 * MI);
    const cap = new HeapCap({ capBytes: 6 * MI, gc, heapUsed });
    heap.used = 15 * MI;
    cap.check();
    // V8 collected on its own; the live size it left is the new base.
    heap.used = 8 * MI;
    expect(cap.check()).toBe(false);
    heap.used = 15 * MI;
    expect(cap.check()).toBe(true);
  });

  it('follows a live size that grows (more pods): the base is what the collection left', () => {
    const { heap, gc, heapUsed } = fakeHeap(10 * MI);
    const cap = new HeapCap({ capBytes: 6 * MI, gc, heapUsed });
    cap.check();
    heap.live = 14 * MI;
    heap.used = 17 * MI;
    expect(cap.check()).toBe(true);
    heap.used = 20 * MI;
    expect(cap.check()).toBe(false);
    heap.used = 20 * MI + 1;
    expect(cap.check()).toBe(true);
  });

  it('is off with a zero cap or without an exposed gc, and says why', () => {
    const { heap, gc, heapUsed } = fakeHeap(10 * MI);
    const off = new HeapCap({ capBytes: 0, gc, heapUsed });
    const unexposed = new HeapCap({ capBytes: 6 * MI, gc: undefined, heapUsed });
    heap.used = 100 * MI;
    expect(off.check()).toBe(false);
    expect(unexposed.check()).toBe(false);
    expect(heap.collections).toBe(0);
    expect(off.state).toEqual({ active: false, reason: 'cap-is-zero' });
    expect(unexposed.state).toEqual({ active: false, reason: 'gc-not-exposed' });
    expect(new HeapCap({ capBytes: MI, gc, heapUsed }).state).toEqual({ active: true });
  });
});
