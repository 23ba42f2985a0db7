import { describe, expect, it } from 'vitest';
import { HourlyBook } from './hourly-book.ts';
import { decodeHistory, encodeHistory, HistoryDecodeError } from './history-state.ts';

const H = 3_600_000;
const NOW = 500_000 * H;

describe('the stored spend history', () => {
  it('restores a book that answers the same series, with what was counted so far', () => {
    const book = new HourlyBook();
    const adds = new Map([
      [
        'policy:*',
        new Map([
          [NOW / H - 3, 7n],
          [NOW / H, 10n ** 19n],
        ]),
      ],
      ['namespace:a', new Map([[NOW / H - 3, 7n]])],
    ]);
    book.add('p', adds, NOW - 3 * H);
    const more = new Map([['session:a/1', new Map([[NOW / H, 5n]])]]);
    const view = book.view('p', more, NOW);
    const { text, kept } = encodeHistory(view);
    expect(kept).toBe(3);
    const restored = new HourlyBook();
    restored.restore('p', decodeHistory(text), NOW);
    book.add('p', more, NOW);
    for (const s of ['policy:*', 'namespace:a', 'session:a/1']) {
      expect(restored.series('p', s, NOW / H - 10, NOW / H)).toEqual(
        book.series('p', s, NOW / H - 10, NOW / H),
      );
    }
    // Counted from three hours ago on: earlier hours stay unknown, not zero.
    expect(restored.series('p', 'policy:*', NOW / H - 10, NOW / H)?.firstHour).toBe(NOW / H - 3);
  });

  it('keeps the policy stream first and sessions last when the bound bites', () => {
    const streams = new Map<string, Map<number, bigint>>([['policy:*', new Map([[1, 1n]])]]);
    for (let i = 0; i < 300; i++) {
      // Sessions hold most of the bytes: two days of hours each, of scattered amounts.
      const hours = Array.from({ length: 48 }, (_, h): [number, bigint] => [
        h,
        BigInt(((i + 1) * 2_654_435_761 * (h + 1)) % 4_294_967_291),
      ]);
      streams.set(`session:a/${i}`, new Map(hours));
      streams.set(`namespace:n${i}`, new Map([[1, BigInt(i)]]));
    }
    const full = encodeHistory({ since: 1, streams }).text.length;
    const { text, kept } = encodeHistory({ since: 1, streams }, Math.floor(full / 2));
    expect(kept).toBeLessThan(601);
    const back = decodeHistory(text).streams;
    expect(back.has('policy:*')).toBe(true);
    expect([...back.keys()].filter((k) => k.startsWith('namespace:'))).toHaveLength(300);
    // The biggest sessions stay.
    expect(back.has('session:a/299')).toBe(true);
    expect(back.has('session:a/0')).toBe(false);
  });

  it('refuses a corrupt text with a typed error', () => {
    expect(() => decodeHistory('v1.bm90IGd6aXA=')).toThrow(HistoryDecodeError);
  });
});
