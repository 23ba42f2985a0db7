import { describe, expect, it } from 'vitest';
import { exclusiveSegments, Settlement } from './settlement.ts';

const T = 1_000_000_000_000n;
const TICK = 10_000n;
const tick = (i: bigint, cpuNs: bigint) => ({
  podUid: 'p',
  window: { t0: T + i * TICK, t1: T + (i + 1n) * TICK },
  usage: { cpuNs },
});

describe('Settlement', () => {
  it('settles a tick only after the watermark and freezes it', () => {
    const s = new Settlement<{ cpuNs: bigint }>();
    s.recordSpan('p', 'ns/a', T, T + TICK);
    expect(s.pushTick(tick(0n, 100n))).toEqual([]);
    // A span arriving within the watermark still counts.
    expect(s.recordSpan('p', 'ns/b', T, T + TICK)).toBe('on_time');
    expect(s.pushTick(tick(1n, 100n))).toEqual([]);
    const [settled] = s.pushTick(tick(2n, 100n));
    expect(settled?.shares.get('ns/a')).toEqual({ cpuNs: 50n });
    expect(settled?.shares.get('ns/b')).toEqual({ cpuNs: 50n });
    expect(Object.isFrozen(settled)).toBe(true);
    expect(s.recordSpan('p', 'ns/c', T, T + TICK)).toBe('late');
    expect(s.recordSpan('p', 'ns/c', T, T + 2n * TICK)).toBe('partly_late');
    expect(s.lateSpans).toBe(2);
    const rest = s.flushPod('p');
    expect(rest.map((r) => r.shares.get('ns/c'))).toEqual([{ cpuNs: 100n }, undefined]);
  });

  it('applies annotation changes from the moment they are seen', () => {
    const s = new Settlement<{ cpuNs: bigint }>({ watermarkTicks: 0 });
    s.observeAnnotation('p', T + 2_500n, 'ns/job');
    s.recordSpan('p', 'ns/x', T, T + 2n * TICK);
    const [first] = s.pushTick(tick(0n, 1000n));
    expect(first?.shares.get('ns/job')).toEqual({ cpuNs: 750n });
    expect(first?.shares.get('ns/x')).toEqual({ cpuNs: 250n });
    s.observeAnnotation('p', T + 15_000n, null);
    const [second] = s.pushTick(tick(1n, 1000n));
    expect(second?.shares.get('ns/job')).toEqual({ cpuNs: 500n });
    expect(second?.shares.get('ns/x')).toEqual({ cpuNs: 500n });
  });

  it('charges a pod created with the annotation mid-tick wholly to its session', () => {
    // As measured on a real kubelet: a Job pod appearing 4.8 s into a 10 s tick.
    const s = new Settlement<{ cpuNs: bigint }>({ watermarkTicks: 0 });
    s.observeAnnotation('p', T + 4_800n, 'ns/job');
    const [first] = s.pushTick(tick(0n, 8_000n));
    expect(first?.shares.get('ns/job')).toEqual({ cpuNs: 8_000n });
    expect(first?.unattributed).toEqual({ cpuNs: 0n });
    expect(first?.window).toEqual(tick(0n, 0n).window);
    const [second] = s.pushTick(tick(1n, 10_000n));
    expect(second?.shares.get('ns/job')).toEqual({ cpuNs: 10_000n });
  });

  it('splits a pod born mid-tick by its spans over its life, not the whole tick', () => {
    const s = new Settlement<{ cpuNs: bigint }>({ watermarkTicks: 0 });
    s.observeAnnotation('p', T + 5_000n, null);
    s.recordSpan('p', 'ns/a', T + 5_000n, T + 7_500n);
    const [first] = s.pushTick(tick(0n, 1_000n));
    expect(first?.shares.get('ns/a')).toEqual({ cpuNs: 500n });
    expect(first?.unattributed).toEqual({ cpuNs: 500n });
  });

  it('still applies an annotation added after creation only from when it is seen', () => {
    const s = new Settlement<{ cpuNs: bigint }>({ watermarkTicks: 0 });
    s.observeAnnotation('p', T + 2_000n, null);
    s.observeAnnotation('p', T + 6_000n, 'ns/job');
    const [first] = s.pushTick(tick(0n, 800n));
    expect(first?.shares.get('ns/job')).toEqual({ cpuNs: 400n });
    expect(first?.unattributed).toEqual({ cpuNs: 400n });
  });

  it('computes exclusive segments', () => {
    const w = { t0: 100n, t1: 200n };
    expect(exclusiveSegments([], w)).toEqual([]);
    expect(exclusiveSegments([{ atNs: 0n, key: 'a' }], w)).toEqual([
      { start: 100n, end: 200n, key: 'a' },
    ]);
    expect(
      exclusiveSegments(
        [
          { atNs: 0n, key: 'a' },
          { atNs: 150n, key: null },
          { atNs: 180n, key: 'b' },
        ],
        w,
      ),
    ).toEqual([
      { start: 100n, end: 150n, key: 'a' },
      { start: 180n, end: 200n, key: 'b' },
    ]);
  });
});
