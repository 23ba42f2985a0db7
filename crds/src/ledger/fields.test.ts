import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkDecimal, decimal } from './fields.ts';

/** What decimal() does with a value: its result's absence of error, or its error message. */
function outcome(check: () => unknown): string {
  try {
    check();
    return 'ok';
  } catch (error) {
    return (error as Error).message;
  }
}

describe('checkDecimal', () => {
  const edges = [
    '0',
    '00',
    '01',
    '18446744073709551615',
    '18446744073709551616',
    '99999999999999999999',
    '100000000000000000000',
    '',
    '-1',
    '1.0',
    ' 1',
    '1e3',
    12,
    null,
    undefined,
    {},
  ];

  it.each(edges.map((v) => [JSON.stringify(v) ?? 'undefined', v]))(
    'accepts and refuses %s exactly as decimal() does',
    (_, value) => {
      expect(outcome(() => checkDecimal(value, '$.x'))).toBe(outcome(() => decimal(value, '$.x')));
    },
  );

  it('agrees with decimal() on any string', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.bigInt({ min: 0n, max: 1n << 66n }).map(String)),
        (value) => {
          expect(outcome(() => checkDecimal(value, '$.x'))).toBe(
            outcome(() => decimal(value, '$.x')),
          );
        },
      ),
    );
  });
});
