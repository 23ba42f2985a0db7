import { describe, expect, it } from 'vitest';
import { decodeCursors, encodeCursors } from './cursors.ts';
import { StateDecodeError } from './state.ts';

const h = (c: string): string => c.repeat(64);

describe('collection cursors text', () => {
  it('round-trips, sorted by node, whatever the input order', () => {
    const cursors = [
      { node: 'node-b.example', seq: 41_000_123n, hash: h('b') },
      { node: 'node-a', seq: 0n, hash: h('0') },
    ];
    const text = encodeCursors(cursors);
    expect(text).toBe(`node-a 0 ${h('0')}\nnode-b.example 41000123 ${h('b')}`);
    expect(decodeCursors(text)).toEqual([cursors[1], cursors[0]]);
    expect(encodeCursors([...cursors].reverse())).toBe(text);
  });

  it('shares one position between the policies that stand at it', () => {
    const shared = new Map();
    const a = decodeCursors(`n 1 ${h('a')}\nm 2 ${h('b')}`, shared);
    const b = decodeCursors(`n 1 ${h('a')}\nm 3 ${h('c')}`, shared);
    expect(b[0]).toBe(a[0]);
    expect(b[1]).toEqual({ node: 'm', seq: 3n, hash: h('c') });
  });

  it('reads absent and empty as no cursors', () => {
    expect(decodeCursors(undefined)).toEqual([]);
    expect(decodeCursors(encodeCursors([]))).toEqual([]);
  });

  it.each([
    ['a short hash', `n 1 ${'a'.repeat(63)}`],
    ['a leading zero', `n 01 ${h('a')}`],
    ['a seq beyond 2^64 - 1', `n 18446744073709551616 ${h('a')}`],
    ['a missing field', `n ${h('a')}`],
    ['a trailing newline', `n 1 ${h('a')}\n`],
    ['a duplicate node', `n 1 ${h('a')}\nn 2 ${h('b')}`],
  ])('refuses %s', (_what, text) => {
    expect(() => decodeCursors(text)).toThrow(StateDecodeError);
  });

  it('refuses a value that is not a string (an object list from an older schema)', () => {
    const legacy = [{ node: 'n', seq: 1, hash: h('a') }] as unknown as string;
    expect(() => decodeCursors(legacy)).toThrow(StateDecodeError);
  });
});
