// A policy's part of the hourly book as status.spendHistory stores it, written in the same /status
// update as the cursors, so a new leader's forecasts and detectors start from the weeks already
// counted, not from an empty book, and count no entry twice. Bounded: past MAX_HISTORY_BYTES the
// stored copy keeps the policy stream, then namespace, tag and model streams by spend, then
// session streams by spend; the running operator keeps them all (the store is the place for
// history at scale).
import { MAX_SPEND_HISTORY_BYTES } from '@agentmeter/crds';
import { b36, Dictionary, fromB36, pack, packWithin, unpack, wordsOf } from '../status/packed.ts';
import type { BookView } from './hourly-book.ts';

export const MAX_HISTORY_BYTES = MAX_SPEND_HISTORY_BYTES;

export class HistoryDecodeError extends Error {
  override readonly name = 'HistoryDecodeError';
}

/** [stream, first hour, spend of each hour from it in base 36, "" for none]. */
type StreamRow = [number, number, string[]];
interface Wire {
  v: 1;
  since: number;
  d: string[];
  s: StreamRow[];
}

type Stream = [string, Map<number, bigint>];

function encodeStreams(since: number, streams: readonly Stream[]): string {
  const dict = new Dictionary();
  const s = [...streams]
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([key, hours]): StreamRow => {
      let first = Infinity;
      let last = -Infinity;
      for (const h of hours.keys()) {
        if (h < first) first = h;
        if (h > last) last = h;
      }
      const values = Array.from({ length: last - first + 1 }, (_, i) => {
        const nano = hours.get(first + i);
        return nano === undefined ? '' : b36(nano);
      });
      return [dict.id(key), first, values];
    });
  const wire: Wire = { v: 1, since, d: [], s };
  wire.d = dict.words;
  return pack(wire, 1);
}

function total(hours: Map<number, bigint>): bigint {
  let sum = 0n;
  for (const nano of hours.values()) sum += nano;
  return sum;
}

const tier = (key: string): number => (key === 'policy:*' ? 0 : key.startsWith('session:') ? 2 : 1);

/** Order of keeping when the bound bites: the policy stream, other streams, sessions last;
 * within each, the larger spender first. */
function ranked(streams: Map<string, Map<number, bigint>>): Stream[] {
  return [...streams]
    .map((s) => ({ s, tier: tier(s[0]), total: total(s[1]) }))
    .sort((a, b) =>
      a.tier !== b.tier
        ? a.tier - b.tier
        : a.total === b.total
          ? a.s[0] < b.s[0]
            ? -1
            : 1
          : a.total > b.total
            ? -1
            : 1,
    )
    .map((x) => x.s);
}

/** The stored form of `view`: every stream, or the first by rank that fit in `maxBytes`. */
export function encodeHistory(
  view: BookView,
  maxBytes = MAX_HISTORY_BYTES,
): { text: string; kept: number } {
  return packWithin(
    ranked(view.streams),
    (streams) => encodeStreams(view.since, streams),
    maxBytes,
  );
}

export function decodeHistory(text: string): BookView {
  const wire = unpack(text, 'spend history', HistoryDecodeError) as Wire;
  if (wire.v !== 1 || !Number.isSafeInteger(wire.since) || !Array.isArray(wire.s)) {
    throw new HistoryDecodeError(`unsupported spend history v${String(wire.v)}`);
  }
  const word = wordsOf(wire.d, HistoryDecodeError);
  const streams = new Map<string, Map<number, bigint>>();
  for (const [key, first, values] of wire.s) {
    if (!Number.isSafeInteger(first)) throw new HistoryDecodeError(`bad hour ${String(first)}`);
    const hours = new Map<number, bigint>();
    values.forEach((v, i) => {
      if (v !== '') hours.set(first + i, fromB36(v, HistoryDecodeError));
    });
    streams.set(word(key), hours);
  }
  return { since: wire.since, streams };
}
