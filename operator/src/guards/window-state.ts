// The guard window as status.guards.window stores it, written in the same /status update as the
// cursors: the activity a new leader judges is exactly the activity the counted entries made, so
// a guard window does not start empty after a restart or failover, and no entry is in it twice.
// Bounded: past MAX_WINDOW_RECORDS records or MAX_WINDOW_BYTES the oldest entries are left out
// of the stored copy (the running operator keeps them), so a flood that large only weakens the
// guards across a failover.
import { MAX_GUARD_WINDOW_BYTES } from '@agentmeter/crds';
import { b36, Dictionary, fromB36, pack, packWithin, unpack, wordsOf } from '../status/packed.ts';
import type { SessionActivity } from './evaluate.ts';
import type { EntryActivity } from './window.ts';

export const MAX_WINDOW_BYTES = MAX_GUARD_WINDOW_BYTES;
/** Records offered to the bound at most: about what fits, so a flood costs a few encodings of
 * this many, not of the whole window. */
export const MAX_WINDOW_RECORDS = 12_000;

export class WindowDecodeError extends Error {
  override readonly name = 'WindowDecodeError';
}

/** [session, atMs − t0, nano] for a tick share; [session, atMs − t0, nano, tool, argsHash] for a
 * call, tool and argsHash as dictionary indices, -1 when absent. Times as offsets from the
 * earliest compress far better than epoch milliseconds. */
type Row = [number, number, string] | [number, number, string, number, number];
interface Wire {
  v: 1;
  t0: number;
  d: string[];
  e: [string, Row[]][];
}

function encodeEntries(entries: readonly EntryActivity[]): string {
  const dict = new Dictionary();
  const opt = (s: string | undefined): number => (s === undefined ? -1 : dict.id(s));
  let t0 = Infinity;
  for (const x of entries) for (const r of x.records) if (r.atMs < t0) t0 = r.atMs;
  if (t0 === Infinity) t0 = 0;
  const rows = (records: readonly SessionActivity[]): Row[] =>
    records.map((r) => {
      const at = r.atMs - t0;
      return r.call === undefined
        ? [dict.id(r.session), at, b36(r.nano)]
        : [dict.id(r.session), at, b36(r.nano), opt(r.call.tool), opt(r.call.argsHash)];
    });
  const e = entries.map((x): [string, Row[]] => [x.entry, rows(x.records)]);
  const wire: Wire = { v: 1, t0, d: [], e };
  wire.d = dict.words;
  return pack(wire, 1);
}

function newest(e: EntryActivity): number {
  let t = -Infinity;
  for (const r of e.records) if (r.atMs > t) t = r.atMs;
  return t;
}

/** The stored form of `entries`: all of them, or the newest that fit in `maxBytes`. */
export function encodeWindow(
  entries: readonly EntryActivity[],
  maxBytes = MAX_WINDOW_BYTES,
): { text: string; kept: number } {
  const byAge = entries
    .map((e) => ({ e, t: newest(e) }))
    .sort((a, b) => b.t - a.t)
    .map((x) => x.e);
  let records = 0;
  let offered = 0;
  while (offered < byAge.length && records < MAX_WINDOW_RECORDS) {
    records += (byAge[offered] as EntryActivity).records.length;
    offered++;
  }
  return packWithin(byAge.slice(0, offered), encodeEntries, maxBytes);
}

export function decodeWindow(text: string | undefined): EntryActivity[] {
  if (text === undefined || text === '') return [];
  const wire = unpack(text, 'guard window', WindowDecodeError) as Wire;
  if (wire.v !== 1 || !Number.isSafeInteger(wire.t0) || !Array.isArray(wire.e)) {
    throw new WindowDecodeError(`unsupported guard window v${String(wire.v)}`);
  }
  const word = wordsOf(wire.d, WindowDecodeError);
  const opt = (i: number): string | undefined => (i === -1 ? undefined : word(i));
  return wire.e.map(([entry, rows]) => ({
    entry,
    records: rows.map((row): SessionActivity => {
      const [session, at, nano] = row;
      if (!Number.isSafeInteger(at)) throw new WindowDecodeError(`bad time ${String(at)}`);
      const base = {
        session: word(session),
        atMs: wire.t0 + at,
        nano: fromB36(nano, WindowDecodeError),
      };
      if (row.length === 3) return base;
      const tool = opt(row[3]);
      const argsHash = opt(row[4]);
      return {
        ...base,
        call: {
          ...(tool === undefined ? {} : { tool }),
          ...(argsHash === undefined ? {} : { argsHash }),
        },
      };
    }),
  }));
}
