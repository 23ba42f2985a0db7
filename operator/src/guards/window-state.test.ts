import { describe, expect, it } from 'vitest';
import { decodeWindow, encodeWindow, WindowDecodeError } from './window-state.ts';
import type { EntryActivity } from './window.ts';

const HASH = 'ab'.repeat(32);

describe('the stored guard window', () => {
  const entries: EntryActivity[] = [
    { entry: 'n2/7', records: [{ session: 'a/1', atMs: 5000, nano: 123_456_789n }] },
    {
      entry: 'n1/3',
      records: [
        { session: 'a/1', atMs: 1000, nano: 0n, call: { tool: 'search', argsHash: HASH } },
        { session: 'a/2', atMs: 1001, nano: 10n ** 20n, call: {} },
        { session: 'a/2', atMs: 1002, nano: 1n, call: { tool: 'fetch' } },
      ],
    },
  ];

  it('reads back every record: tick shares, calls with and without a tool or hash', () => {
    const { text, kept } = encodeWindow(entries);
    expect(kept).toBe(2);
    expect(text).toMatch(/^v1\./);
    const back = decodeWindow(text);
    expect(back.map((e) => e.entry)).toEqual(['n2/7', 'n1/3']);
    expect(back).toEqual(expect.arrayContaining(entries));
    expect(encodeWindow([...entries].reverse()).text).toBe(text);
    expect(decodeWindow(undefined)).toEqual([]);
    expect(decodeWindow('')).toEqual([]);
  });

  it('keeps the newest entries that fit its bound', () => {
    const many: EntryActivity[] = Array.from({ length: 400 }, (_, i) => ({
      entry: `n/${i}`,
      records: [
        {
          session: `a/${i}`,
          atMs: i * 1000,
          nano: BigInt(i),
          call: { tool: 'search', argsHash: i.toString(16).padStart(64, '0') },
        },
      ],
    }));
    const full = encodeWindow(many).text.length;
    const { text, kept } = encodeWindow(many, Math.floor(full / 2));
    expect(text.length).toBeLessThanOrEqual(Math.floor(full / 2));
    expect(kept).toBeGreaterThan(100);
    expect(kept).toBeLessThan(400);
    const back = decodeWindow(text).map((e) => Number(e.entry.slice(2)));
    expect(Math.min(...back)).toBe(400 - kept);
  });

  it('refuses a foreign version or a corrupt text with a typed error', () => {
    expect(() => decodeWindow('v9.xx')).toThrow(WindowDecodeError);
    expect(() => decodeWindow('v1.bm90IGd6aXA=')).toThrow(/guard window is corrupt/);
  });
});
