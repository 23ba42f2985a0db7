import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalSplit, canonicalize } from './canonical.ts';
import { LedgerFormatError } from './errors.ts';

const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    fc.boolean(),
    fc.constant(null),
    fc.integer(),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(
      fc.string().filter((k) => !/^(?:0|[1-9][0-9]*)$/.test(k)),
      tie('value'),
      { maxKeys: 5 },
    ),
  ),
})).value;

function shuffleKeys(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((item, i) => shuffleKeys(item, seed + i));
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    // Deterministic permutation: rotate by seed, then reverse on odd seeds.
    const rotated = entries.map(
      (_, i) => entries[(i + seed) % entries.length] as [string, unknown],
    );
    if (seed % 2 === 1) rotated.reverse();
    return Object.fromEntries(rotated.map(([k, v]) => [k, shuffleKeys(v, seed + 1)]));
  }
  return value;
}

describe('canonicalize', () => {
  it('sorts keys and drops whitespace', () => {
    expect(canonicalize({ b: 1, a: [true, null, 'x'], c: { z: '1', y: '2' } })).toBe(
      '{"a":[true,null,"x"],"b":1,"c":{"y":"2","z":"1"}}',
    );
  });

  it('is the same for any key order and round-trips through JSON.parse', () => {
    fc.assert(
      fc.property(jsonValue, fc.nat(1000), (value, seed) => {
        const canonical = canonicalize(value);
        expect(canonicalize(shuffleKeys(value, seed))).toBe(canonical);
        expect(canonicalize(JSON.parse(canonical))).toBe(canonical);
      }),
    );
  });

  it('refuses array-index-like object keys, which engines would reorder', () => {
    expect(() => canonicalize({ a: { '10': '1' } })).toThrow(LedgerFormatError);
  });

  it('keeps a __proto__ member as data', () => {
    expect(canonicalize(JSON.parse('{"b":"1","__proto__":{"x":"2"}}'))).toBe(
      '{"__proto__":{"x":"2"},"b":"1"}',
    );
  });

  it('omits undefined members like JSON.stringify', () => {
    expect(canonicalize({ a: undefined, b: '1' })).toBe('{"b":"1"}');
  });

  it.each([1.5, Number.NaN, Infinity, 2 ** 53])('refuses the unsafe number %s', (n) => {
    expect(() => canonicalize({ n })).toThrow(LedgerFormatError);
  });

  it('refuses BigInt with the path', () => {
    expect(() => canonicalize({ a: [{ b: 1n }] })).toThrow(/\$\.a\[0\]\.b/);
  });

  it('splits into members before and after a key, which rejoin to the canonical form', () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.string().filter((k) => !/^(?:0|[1-9][0-9]*)$/.test(k) && k !== 'm'),
          jsonValue,
          { maxKeys: 6 },
        ),
        fc.nat(1000),
        (record, seed) => {
          const [before, after] = canonicalSplit(
            shuffleKeys(record, seed) as object as Record<string, unknown>,
            'm',
          );
          const joined = `{${[before, after].filter((p) => p !== '').join(',')}}`;
          expect(joined).toBe(canonicalize(record));
          for (const key of Object.keys(JSON.parse(`{${before}}`) as object))
            expect(key < 'm').toBe(true);
          for (const key of Object.keys(JSON.parse(`{${after}}`) as object))
            expect(key > 'm').toBe(true);
        },
      ),
    );
  });

  it('keeps an own `__proto__` member when splitting, as a member and not a prototype', () => {
    const record = JSON.parse('{"z":1,"__proto__":{"x":"y"},"a":"b"}') as Record<string, unknown>;
    const [before, after] = canonicalSplit(record, 'm');
    expect(before).toBe('"__proto__":{"x":"y"},"a":"b"');
    expect(after).toBe('"z":1');
    expect(`{${before},${after}}`).toBe(canonicalize(record));
  });
});
