import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Interval } from './activity.ts';
import { apportion, sessionWeights, SplitError, splitTick } from './split.ts';
import type { ExclusiveSegment } from './split.ts';

interface TestUsage {
  cpuNs: bigint;
  memoryByteSeconds: bigint;
  ioReadBytes?: bigint;
}

const T0 = 1_760_000_000_000_000_000n;
const TICK = 10_000_000_000n;
const window = { t0: T0, t1: T0 + TICK };

function sum(values: Iterable<bigint>): bigint {
  let s = 0n;
  for (const v of values) s += v;
  return s;
}

// Spans: (session index, start offset, length), offsets may fall outside the tick to test clipping.
const spanArb = fc.record({
  session: fc.integer({ min: 0, max: 5 }),
  start: fc.bigInt({ min: -TICK / 2n, max: TICK }),
  length: fc.bigInt({ min: 0n, max: TICK }),
});
const usageArb = fc.record({
  cpuNs: fc.bigInt({ min: 0n, max: 1n << 70n }),
  memoryByteSeconds: fc.bigInt({ min: 0n, max: 10_000n }),
  ioReadBytes: fc.option(fc.bigInt({ min: 0n, max: 1_000_000n }), { nil: undefined }),
});

type Span = { session: number; start: bigint; length: bigint };

function activityOf(spans: readonly Span[]): Map<string, Interval[]> {
  const activity = new Map<string, Interval[]>();
  for (const s of spans) {
    const key = `ns-${s.session % 2}/s${s.session}`;
    const list = activity.get(key) ?? [];
    list.push({ start: T0 + s.start, end: T0 + s.start + s.length });
    activity.set(key, list);
  }
  return activity;
}

function withoutUndefined(u: TestUsage): TestUsage {
  return Object.fromEntries(
    Object.entries(u).filter(([, v]) => v !== undefined),
  ) as unknown as TestUsage;
}

describe('splitTick properties', () => {
  it('conserves every resource exactly and never gives a negative share', () => {
    fc.assert(
      fc.property(fc.array(spanArb, { maxLength: 30 }), usageArb, (spans, rawUsage) => {
        const usage = withoutUndefined(rawUsage);
        const result = splitTick({ window, usage, activity: activityOf(spans) });
        for (const resource of Object.keys(usage) as (keyof TestUsage)[]) {
          const shares = [...result.shares.values()].map((s) => s[resource] as bigint);
          for (const share of shares) expect(share).toBeGreaterThanOrEqual(0n);
          expect(result.unattributed[resource]).toBeGreaterThanOrEqual(0n);
          expect(sum(shares) + (result.unattributed[resource] as bigint)).toBe(usage[resource]);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('is deterministic and invariant under the arrival order of spans', () => {
    fc.assert(
      fc.property(
        fc.array(spanArb, { maxLength: 30 }),
        usageArb,
        fc.infiniteStream(fc.nat()),
        (spans, rawUsage, seeds) => {
          const usage = withoutUndefined(rawUsage);
          const shuffled = spans
            .map((s) => ({ s, k: seeds.next().value as number }))
            .sort((a, b) => a.k - b.k)
            .map(({ s }) => s);
          const a = splitTick({ window, usage, activity: activityOf(spans) });
          const b = splitTick({ window, usage, activity: activityOf(spans) });
          const c = splitTick({ window, usage, activity: activityOf(shuffled) });
          expect(b).toEqual(a);
          expect([...c.shares.entries()]).toEqual([...a.shares.entries()]);
          expect(c.unattributed).toEqual(a.unattributed);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('weights sum to the busy time', () => {
    fc.assert(
      fc.property(fc.array(spanArb, { maxLength: 30 }), (spans) => {
        const w = sessionWeights(window, activityOf(spans));
        expect(sum(w.numerators.values())).toBe(w.busyNs * w.denominator);
        expect(w.busyNs).toBeLessThanOrEqual(TICK);
      }),
    );
  });

  it('gives the whole delta to one session active the whole tick, nested spans or not', () => {
    fc.assert(
      fc.property(usageArb, fc.array(spanArb, { maxLength: 10 }), (rawUsage, nested) => {
        const usage = withoutUndefined(rawUsage);
        const intervals: Interval[] = [{ start: T0 - 5n, end: T0 + TICK + 5n }];
        for (const n of nested)
          intervals.push({ start: T0 + n.start, end: T0 + n.start + n.length });
        const result = splitTick({ window, usage, activity: new Map([['a/x', intervals]]) });
        expect(result.shares.get('a/x')).toEqual(usage);
        for (const v of Object.values(result.unattributed)) expect(v).toBe(0n);
      }),
    );
  });

  it('leaves an all-idle tick wholly unattributed', () => {
    fc.assert(
      fc.property(usageArb, (rawUsage) => {
        const usage = withoutUndefined(rawUsage);
        const outside = new Map([
          [
            'a/x',
            [
              { start: T0 - TICK, end: T0 },
              { start: T0 + TICK, end: T0 + 2n * TICK },
            ],
          ],
        ]);
        for (const activity of [new Map<string, Interval[]>(), outside]) {
          const result = splitTick({ window, usage, activity });
          expect(result.shares.size).toBe(0);
          expect(result.unattributed).toEqual(usage);
        }
      }),
    );
  });

  it('gives two equal fully overlapping sessions U/2 each, ±1', () => {
    fc.assert(
      fc.property(usageArb, fc.bigInt({ min: 1n, max: TICK - 1n }), (rawUsage, len) => {
        const usage = withoutUndefined(rawUsage);
        const span = [{ start: T0, end: T0 + TICK }];
        const result = splitTick({
          window,
          usage,
          activity: new Map([
            ['b/y', span],
            ['a/x', span],
          ]),
        });
        const a = result.shares.get('a/x') as TestUsage;
        const b = result.shares.get('b/y') as TestUsage;
        expect(a.cpuNs - b.cpuNs).toBeGreaterThanOrEqual(0n);
        expect(a.cpuNs - b.cpuNs).toBeLessThanOrEqual(1n);
        expect(a.cpuNs + b.cpuNs).toBe(usage.cpuNs);
        // Partial overlap: the pool is the busy fraction, shared equally.
        const partial = [{ start: T0, end: T0 + len }];
        const r2 = splitTick({
          window,
          usage,
          activity: new Map([
            ['a/x', partial],
            ['b/y', partial],
          ]),
        });
        const pool = (usage.cpuNs * len) / TICK;
        expect(
          (r2.shares.get('a/x') as TestUsage).cpuNs + (r2.shares.get('b/y') as TestUsage).cpuNs,
        ).toBe(pool);
      }),
    );
  });
});

describe('splitTick examples', () => {
  it('shares overlap equally and keeps idle time unattributed', () => {
    // a: [0, 6s), b: [3s, 9s) of a 10 s tick → a = 3 + 1.5, b = 1.5 + 3, idle 1 s.
    const s = 1_000_000_000n;
    const activity = new Map([
      ['ns/a', [{ start: T0, end: T0 + 6n * s }]],
      ['ns/b', [{ start: T0 + 3n * s, end: T0 + 9n * s }]],
    ]);
    const result = splitTick({ window, usage: { cpuNs: 1000n, memoryByteSeconds: 7n }, activity });
    expect(result.weights.busyNs).toBe(9n * s);
    expect(result.shares.get('ns/a')).toEqual({ cpuNs: 450n, memoryByteSeconds: 3n });
    // memory: pool floor(7·9/10) = 6, split 3/3.
    expect(result.shares.get('ns/b')).toEqual({ cpuNs: 450n, memoryByteSeconds: 3n });
    expect(result.unattributed).toEqual({ cpuNs: 100n, memoryByteSeconds: 1n });
  });

  it('breaks remainder ties by key order', () => {
    expect(
      apportion(
        2n,
        new Map([
          ['b', 1n],
          ['c', 1n],
          ['a', 1n],
        ]),
      ),
    ).toEqual(
      new Map([
        ['b', 1n],
        ['c', 0n],
        ['a', 1n],
      ]),
    );
  });

  it('gives an annotated stretch of the tick to its session alone', () => {
    const half = TICK / 2n;
    const exclusive: ExclusiveSegment[] = [{ start: T0 + half, end: T0 + TICK, key: 'ns/job' }];
    const activity = new Map([['ns/other', [{ start: T0, end: T0 + TICK }]]]);
    const result = splitTick({
      window,
      usage: { cpuNs: 100n, memoryByteSeconds: 0n },
      activity,
      exclusive,
    });
    expect(result.shares.get('ns/job')?.cpuNs).toBe(50n);
    expect(result.shares.get('ns/other')?.cpuNs).toBe(50n);
    expect(result.unattributed.cpuNs).toBe(0n);
  });

  it('refuses an empty window and negative usage with typed errors', () => {
    expect(() =>
      splitTick({ window: { t0: 5n, t1: 5n }, usage: { cpuNs: 1n }, activity: new Map() }),
    ).toThrow(SplitError);
    expect(() => splitTick({ window, usage: { cpuNs: -1n }, activity: new Map() })).toThrow(
      /negative-usage/,
    );
  });
});
