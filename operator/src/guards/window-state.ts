// The guard window as status.guards.window stores it, written in the same /status update as the
// cursors: the activity a new leader judges is exactly the activity the counted entries made, so
// a guard window does not start empty after a restart or failover, and no entry is in it twice.
// Bounded: past MAX_WINDOW_BYTES the oldest entries are left out of the stored copy (the running
// operator keeps them), so a burst so large only weakens the guards across a failover.
import { MAX_GUARD_WINDOW_BYTES } from '@agentmeter/crds';
import { b36, Dictionary, fromB36, pack, packWithin, unpack, wordsOf } from '../status/packed.ts';
import type { SessionActivity } from './evaluate.ts';
import type { EntryActivity } from './window.ts';

export const MAX_WINDOW_BYTES = MAX_GUARD_WINDOW_BYTES;

export class WindowDecodeError extends Error {
  override readonly name = 'WindowDecodeError';
}

/** [session, atMs, nano] for a tick share; [session, atMs, nano, tool, argsHash] for a call,
 * tool and argsHash as dictionary indices, -1 when absent. */
type Row = [number, number, string] | [number, number, string, number, number];
interface Wire {
  v: 1;
  d: string[];
  e: [string, Row[]][];
}

function encodeEntries(entries: readonly EntryActivity[]): string {
  const dict = new Dictionary();
  const opt = (s: string | undefined): number => (s === undefined ? -1 : dict.id(s));
  const rows = (records: readonly SessionActivity[]): Row[] =>
    records.map((r) =>
      r.call === undefined
        ? [dict.id(r.session), r.atMs, b36(r.nano)]
        : [dict.id(r.session), r.atMs, b36(r.nano), opt(r.call.tool), opt(r.call.argsHash)],
    );
  const e = [...entries]
    .sort((a, b) => (a.entry < b.entry ? -1 : a.entry > b.entry ? 1 : 0))
    .map((x): [string, Row[]] => [x.entry, rows(x.records)]);
  const wire: Wire = { v: 1, d: [], e };
  wire.d = dict.words;
  return pack(wire);
}

const newest = (e: EntryActivity): number => Math.max(...e.records.map((r) => r.atMs));

/** The stored form of `entries`: all of them, or the newest that fit in `maxBytes`. */
export function encodeWindow(
  entries: readonly EntryActivity[],
  maxBytes = MAX_WINDOW_BYTES,
): { text: string; kept: number } {
  const byAge = [...entries].sort((a, b) => newest(b) - newest(a));
  return packWithin(byAge, encodeEntries, maxBytes);
}

export function decodeWindow(text: string | undefined): EntryActivity[] {
  if (text === undefined || text === '') return [];
  const wire = unpack(text, 'guard window', WindowDecodeError) as Wire;
  if (wire.v !== 1 || !Array.isArray(wire.e)) {
    throw new WindowDecodeError(`unsupported guard window v${String(wire.v)}`);
  }
  const word = wordsOf(wire.d, WindowDecodeError);
  const opt = (i: number): string | undefined => (i === -1 ? undefined : word(i));
  return wire.e.map(([entry, rows]) => ({
    entry,
    records: rows.map((row): SessionActivity => {
      const [session, atMs, nano] = row;
      if (!Number.isSafeInteger(atMs)) throw new WindowDecodeError(`bad time ${String(atMs)}`);
      const base = { session: word(session), atMs, nano: fromB36(nano, WindowDecodeError) };
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
