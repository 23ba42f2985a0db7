import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { counterDelta, integrateGauge } from './counter-delta.ts';

describe('counterDelta', () => {
  it('is the difference for the same incarnation', () => {
    expect(counterDelta({ identity: 'a', value: 10n }, { identity: 'a', value: 25n })).toEqual({
      delta: 15n,
      reset: 'none',
    });
  });

  it('counts the whole value of a counter seen for the first time', () => {
    expect(counterDelta(undefined, { identity: 'a', value: 7n })).toEqual({
      delta: 7n,
      reset: 'new',
    });
  });

  it('treats a recreated cgroup as a reset even when its counter is higher', () => {
    expect(counterDelta({ identity: 'a', value: 5n }, { identity: 'b', value: 9n })).toEqual({
      delta: 9n,
      reset: 'identity',
    });
  });

  it('treats a decreasing value as a reset (the heapster underflow)', () => {
    expect(
      counterDelta({ identity: 'a', value: 2n ** 64n - 10n }, { identity: 'a', value: 3n }),
    ).toEqual({ delta: 3n, reset: 'decrease' });
  });

  it('never yields a negative delta', () => {
    const reading = fc.record({
      identity: fc.constantFrom('a', 'b'),
      value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    });
    fc.assert(
      fc.property(fc.option(reading, { nil: undefined }), reading, (prev, cur) => {
        expect(counterDelta(prev, cur).delta >= 0n).toBe(true);
      }),
    );
  });

  it('sums to the final value over any sequence without resets', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: 10n ** 12n }), { maxLength: 50 }), (steps) => {
        let value = 0n;
        let prev: { identity: string; value: bigint } | undefined;
        let total = 0n;
        for (const step of steps) {
          value += step;
          const cur = { identity: 'x', value };
          total += counterDelta(prev, cur).delta;
          prev = cur;
        }
        expect(total).toBe(value);
      }),
    );
  });
});

describe('integrateGauge', () => {
  it('loses nothing to rounding across intervals', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            bytes: fc.bigInt({ min: 0n, max: 2n ** 40n }),
            ns: fc.bigInt({ min: 1n, max: 10n ** 11n }),
          }),
          { maxLength: 40 },
        ),
        (samples) => {
          let carry = 0n;
          let sum = 0n;
          let exact = 0n;
          for (const { bytes, ns } of samples) {
            const step = integrateGauge(bytes, ns, carry);
            sum += step.byteSeconds;
            carry = step.carry;
            exact += bytes * ns;
          }
          expect(sum * 1_000_000_000n + carry).toBe(exact);
          expect(carry >= 0n && carry < 1_000_000_000n).toBe(true);
        },
      ),
    );
  });
});
