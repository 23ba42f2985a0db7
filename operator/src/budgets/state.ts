// The accumulator state of one policy and its compact wire form. It lives in
// status.accumulatorState, written in the same /status update as the collection cursors, so
// spend and "what has been counted" can never disagree (exactly once, invariant 2).
//
// Why one compressed string rather than status.accumulators[]: at 10,000 namespaces a
// Namespace-scope budget alone is 10,000 list items, and reports need per-namespace totals by
// resource too; as JSON objects that passes etcd's 1.5 MiB limit. The
// encoding below stores each key once in a dictionary and compresses the rows (see the size
// test, "accumulator state size", in accumulate.test.ts).
import { parseSeq } from '@agentmeter/crds';
import type { LedgerPosition } from '@agentmeter/crds';
import { b36, Dictionary, fromB36 as fromB36Of, pack, unpack, wordsOf } from '../status/packed.ts';
import { zeroBreakdown } from './contribution.ts';
import type { Breakdown } from './contribution.ts';

export interface BudgetAccum {
  /** period/timeZone/scope the sums were collected under; a spec change restarts them. */
  readonly spec: string;
  readonly start: number;
  readonly end: number;
  /** Scope key → spend in nano-units. */
  readonly sums: Map<string, bigint>;
}

export interface NamespaceAccum {
  readonly cost: Breakdown;
  input: bigint;
  output: bigint;
}

/** A session that incurred cost in a report period. The store keeps these (period_sessions),
 * not the state: the state is read and written whole every round. */
export interface CarriedSession {
  /** Period spec key (period/timeZone) and start (ms). */
  readonly spec: string;
  readonly start: number;
  /** "namespace/id". */
  readonly key: string;
}

export interface ReportAccum {
  readonly start: number;
  readonly end: number;
  readonly namespaces: Map<string, NamespaceAccum>;
}

/** A period that has ended, frozen until its CostReports exist. */
export interface ClosedPeriod extends ReportAccum {
  /** Period spec key (period/timeZone). */
  readonly spec: string;
  /** Budgets of this spec when it closed; CostReports are named after them. */
  readonly budgets: readonly string[];
  readonly generation: number;
  readonly heads: readonly LedgerPosition[];
}

export interface PolicyState {
  readonly budgets: Map<string, BudgetAccum>;
  /** Per period spec: what the CostReports of that period will hold. */
  readonly reports: Map<string, ReportAccum>;
  readonly closing: ClosedPeriod[];
  /** Session sets a state of an earlier version held; the next round moves them to the store. */
  readonly carried?: readonly CarriedSession[];
}

export class StateDecodeError extends Error {
  override readonly name = 'StateDecodeError';
}

export function emptyState(): PolicyState {
  return { budgets: new Map(), reports: new Map(), closing: [] };
}

export function newNamespaceAccum(): NamespaceAccum {
  return { cost: zeroBreakdown(), input: 0n, output: 0n };
}

export function cloneState(state: PolicyState): PolicyState {
  const cloneNs = (m: Map<string, NamespaceAccum>): Map<string, NamespaceAccum> =>
    new Map([...m].map(([k, v]) => [k, { cost: { ...v.cost }, input: v.input, output: v.output }]));
  return {
    budgets: new Map([...state.budgets].map(([k, b]) => [k, { ...b, sums: new Map(b.sums) }])),
    reports: new Map(
      [...state.reports].map(([k, r]) => [k, { ...r, namespaces: cloneNs(r.namespaces) }]),
    ),
    closing: state.closing.map((c) => ({ ...c, namespaces: cloneNs(c.namespaces) })),
    ...(state.carried ? { carried: [...state.carried] } : {}),
  };
}

// Wire rows. Amounts are base-36 strings: shorter than decimal, still exact BigInt.
// A namespace row is [id, ...ROW_RESOURCES, input, output, sessions, ...ADDED_RESOURCES]: the
// resources priced since calls came are appended, so a state written before reads as theirs 0.
// The sessions column is written empty since the sets moved to the store; one a state of an
// earlier version holds is decoded into `carried`. `carried` itself is never encoded.
type NsRow = [number, ...string[]];
const ROW_RESOURCES = ['cpu', 'memory', 'gpu', 'io', 'network', 'tokens'] as const;
const ADDED_RESOURCES = ['tools', 'apis'] as const;
interface Wire {
  v: 1;
  d: string[];
  b: [string, string, number, number, [number, string][]][];
  r: [string, number, number, NsRow[]][];
  c: [string, string[], number, number, number, [string, string, string][], NsRow[]][];
}

function seqOf(text: string): bigint {
  const seq = parseSeq(text);
  if (seq === undefined) throw new StateDecodeError(`bad ledger seq ${JSON.stringify(text)}`);
  return seq;
}
const fromB36 = (s: string): bigint => fromB36Of(s, StateDecodeError);

/** Encodes state as "v1." + base64(gzip(JSON)). Deterministic: equal states, equal strings. */
export function encodeState(state: PolicyState): string {
  const dict = new Dictionary();
  const id = (s: string): number => dict.id(s);
  const sortedKeys = <V>(m: Map<string, V>): string[] => [...m.keys()].sort();
  const nsRows = (m: Map<string, NamespaceAccum>): NsRow[] =>
    sortedKeys(m).map((ns) => {
      const a = m.get(ns) as NamespaceAccum;
      return [
        id(ns),
        ...ROW_RESOURCES.map((r) => b36(a.cost[r])),
        b36(a.input),
        b36(a.output),
        '',
        ...ADDED_RESOURCES.map((r) => b36(a.cost[r])),
      ];
    });
  const wire: Wire = {
    v: 1,
    d: [],
    b: sortedKeys(state.budgets).map((name) => {
      const b = state.budgets.get(name) as BudgetAccum;
      return [
        name,
        b.spec,
        b.start,
        b.end,
        sortedKeys(b.sums).map((k) => [id(k), b36(b.sums.get(k) as bigint)]),
      ];
    }),
    r: sortedKeys(state.reports).map((spec) => {
      const r = state.reports.get(spec) as ReportAccum;
      return [spec, r.start, r.end, nsRows(r.namespaces)];
    }),
    c: state.closing.map((c) => [
      c.spec,
      [...c.budgets],
      c.start,
      c.end,
      c.generation,
      c.heads.map((h) => [h.node, h.seq.toString(), h.hash]),
      nsRows(c.namespaces),
    ]),
  };
  wire.d = dict.words;
  return pack(wire);
}

export function decodeState(text: string | undefined): PolicyState {
  if (text === undefined || text === '') return emptyState();
  const wire = unpack(text, 'accumulator state', StateDecodeError) as Wire;
  if (wire.v !== 1) throw new StateDecodeError(`unsupported accumulator state v${String(wire.v)}`);
  const word = wordsOf(wire.d, StateDecodeError);
  const carried: CarriedSession[] = [];
  const nsMap = (spec: string, start: number, rows: NsRow[]): Map<string, NamespaceAccum> => {
    const m = new Map<string, NamespaceAccum>();
    for (const [nsId, ...cols] of rows) {
      const cost = zeroBreakdown();
      const n = ROW_RESOURCES.length;
      ROW_RESOURCES.forEach((r, i) => (cost[r] = fromB36(cols[i] ?? '')));
      ADDED_RESOURCES.forEach((r, i) => (cost[r] = fromB36(cols[n + 3 + i] ?? '0')));
      const sessionsCol = cols[n + 2] ?? '';
      if (sessionsCol !== '') {
        for (const s of sessionsCol.split(','))
          carried.push({ spec, start, key: word(parseInt(s, 36)) });
      }
      m.set(word(nsId), {
        cost,
        input: fromB36(cols[n] ?? ''),
        output: fromB36(cols[n + 1] ?? ''),
      });
    }
    return m;
  };
  const state: PolicyState = {
    budgets: new Map(
      wire.b.map(([name, spec, start, end, sums]) => [
        name,
        { spec, start, end, sums: new Map(sums.map(([k, v]) => [word(k), fromB36(v)])) },
      ]),
    ),
    reports: new Map(
      wire.r.map(([spec, start, end, rows]) => [
        spec,
        { start, end, namespaces: nsMap(spec, start, rows) },
      ]),
    ),
    closing: wire.c.map(([spec, budgets, start, end, generation, heads, rows]) => ({
      spec,
      budgets,
      start,
      end,
      generation,
      heads: heads.map(([node, seq, hash]) => ({ node, seq: seqOf(seq), hash })),
      namespaces: nsMap(spec, start, rows),
    })),
  };
  return carried.length > 0 ? { ...state, carried } : state;
}
