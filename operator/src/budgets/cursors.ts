// The wire form of a policy's collection cursors in status.collection.cursors: one
// "<node> <seq> <hash>" line per node, sorted by node. A plain string, because the apiserver
// validates every item of an object list and diffs its managed fields on each status write:
// with 500 cursors per policy that made each write several times slower than this text.
import { parseSeq } from '@agentmeter/crds';
import type { LedgerPosition } from '@agentmeter/crds';
import { StateDecodeError } from './state.ts';

const LINE = /^(\S+) (\S+) ([0-9a-f]{64})$/;

const byNode = (a: LedgerPosition, b: LedgerPosition): number =>
  a.node < b.node ? -1 : a.node > b.node ? 1 : 0;

/** Deterministic: equal cursor sets, equal strings, so an unchanged status is not rewritten. */
export function encodeCursors(cursors: readonly LedgerPosition[]): string {
  return [...cursors]
    .sort(byNode)
    .map((c) => `${c.node} ${c.seq} ${c.hash}`)
    .join('\n');
}

/**
 * Reads the cursors back. `shared` maps a line to its position across calls: after a round most
 * policies stand at the same position of each node, so they can hold one object, not one each.
 */
export function decodeCursors(
  text: string | undefined,
  shared: Map<string, LedgerPosition> = new Map(),
): LedgerPosition[] {
  if (text === undefined || text === '') return [];
  if (typeof text !== 'string') throw new StateDecodeError('collection cursors are not a string');
  const out: LedgerPosition[] = [];
  const seen = new Set<string>();
  for (const line of text.split('\n')) {
    let position = shared.get(line);
    if (position === undefined) {
      const m = LINE.exec(line);
      const seq = parseSeq(m?.[2]);
      if (m === null || seq === undefined) {
        throw new StateDecodeError(`bad collection cursor ${JSON.stringify(line.slice(0, 120))}`);
      }
      position = { node: m[1] as string, seq, hash: m[3] as string };
      shared.set(line, position);
    }
    if (seen.has(position.node)) {
      throw new StateDecodeError(`two collection cursors for node ${position.node}`);
    }
    seen.add(position.node);
    out.push(position);
  }
  return out;
}
