// Property: for random trees of spans (wrappers, plain spans and leaf model, tool and API calls)
// delivered with random retries, duplicates, MCP twins of tool calls and agent restarts, the
// calls entries the writer's dedupe lets through, folded by the operator from pages that repeat
// and overlap, give each session its infrastructure plus each leaf call's price exactly once.
import {
  callsToWrite,
  compilePolicy,
  conservationViolation,
  priceCall,
  seenFromLedger,
} from '@agentmeter/crds';
import type { CallRecord, LedgerBody, LedgerEntry, LedgerPosition } from '@agentmeter/crds';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { reducePolicy } from './accumulate.ts';
import { emptyState } from './state.ts';
import type { PolicyState } from './state.ts';
import { callsEntryBody, chainOf, podBody, view } from './test-ledger.ts';

const T0 = Date.parse('2026-05-10T08:00:00Z');
const NAMESPACE = 'n';
const SESSIONS = ['s1', 's2', null] as const;
type Session = (typeof SESSIONS)[number];

const rates = compilePolicy('p', 1n, {
  currency: 'USD',
  rates: {
    tokens: [
      {
        model: 'm1',
        inputPerMillion: '3',
        outputPerMillion: '15',
        cacheReadPerMillion: '0.30',
        longContext: { aboveInputTokens: 5000, inputPerMillion: '6', outputPerMillion: '22.5' },
      },
    ],
    tools: [{ name: 'web_search', perCall: '0.01' }],
    apis: [{ host: '*.stripe.com', perCall: '0.002' }],
  },
}).rates;

type Leaf =
  | { kind: 'model'; model: string; input: number; cacheRead: number; output: number }
  | { kind: 'tool'; name: string; callId: boolean; mcpTwin: boolean }
  | { kind: 'api'; host: string }
  | { kind: 'plain' };
type Span = Leaf | { kind: 'wrapper'; children: Span[] };

const leaf: fc.Arbitrary<Leaf> = fc.oneof(
  fc.record({
    kind: fc.constant('model' as const),
    model: fc.constantFrom('m1', 'unlisted-model'),
    input: fc.nat({ max: 10_000 }),
    cacheRead: fc.nat({ max: 10_000 }),
    output: fc.nat({ max: 2_000 }),
  }),
  fc.record({
    kind: fc.constant('tool' as const),
    name: fc.constantFrom('web_search', 'calculator'),
    callId: fc.boolean(),
    mcpTwin: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('api' as const),
    host: fc.constantFrom('api.stripe.com', 'files.stripe.com'),
  }),
  fc.constant({ kind: 'plain' as const }),
);

const tree = fc.letrec<{ span: Span }>((tie) => ({
  span: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.record({
      kind: fc.constant('wrapper' as const),
      children: fc.array(tie('span'), { minLength: 1, maxLength: 3 }),
    }),
  ),
})).span;

interface Leg {
  readonly session: Session;
  readonly record: CallRecord;
}

/**
 * The leaf calls of a session's trees as records, one list per leaf: its span, and the MCP twin
 * of a tool call with a call id (another span, the same gen_ai.tool.call.id).
 */
function flatten(
  session: Session,
  sessionIndex: number,
  traces: readonly Span[],
  nextSpan: () => string,
): Leg[][] {
  const out: Leg[][] = [];
  traces.forEach((root, t) => {
    const traceId = (sessionIndex * 16 + t + 1).toString(16).padStart(32, '0');
    const walk = (span: Span, parent: string | null): void => {
      const spanId = nextSpan();
      if (span.kind === 'wrapper') {
        for (const child of span.children) walk(child, spanId);
        return;
      }
      if (span.kind === 'plain') return;
      const callId = span.kind === 'tool' && span.callId ? `call-${spanId}` : null;
      const records = [record(span, traceId, spanId, parent, callId, 'execute_tool')];
      if (span.kind === 'tool' && callId !== null && span.mcpTwin) {
        records.push(record(span, traceId, nextSpan(), parent, callId, 'tools/call'));
      }
      out.push(records.map((r) => ({ session, record: r })));
    };
    walk(root, null);
  });
  return out;
}

function record(
  span: Leaf,
  traceId: string,
  spanId: string,
  parentSpanId: string | null,
  callId: string | null,
  toolOperation: string,
): CallRecord {
  const tokens =
    span.kind === 'model'
      ? {
          input: BigInt(span.input),
          output: BigInt(span.output),
          cacheRead: BigInt(span.cacheRead),
          cacheCreation: 0n,
          reasoning: 0n,
        }
      : null;
  const price = priceCall(rates, {
    kind: span.kind === 'plain' ? 'model' : span.kind,
    model: span.kind === 'model' ? span.model : null,
    toolName: span.kind === 'tool' ? span.name : null,
    apiHost: span.kind === 'api' ? span.host : null,
    tokens,
  });
  const end = BigInt(T0) * 1_000_000n;
  return {
    traceId,
    spanId,
    parentSpanId,
    start: (end - 1000n).toString(),
    end: end.toString(),
    kind: span.kind === 'plain' ? 'model' : span.kind,
    operation: span.kind === 'model' ? 'chat' : span.kind === 'tool' ? toolOperation : 'http',
    provider: null,
    model: span.kind === 'model' ? span.model : null,
    tool: span.kind === 'tool' ? { name: span.name, type: 'function', callId } : null,
    apiHost: span.kind === 'api' ? span.host : null,
    tokens:
      tokens === null
        ? null
        : {
            input: tokens.input.toString(),
            output: tokens.output.toString(),
            cacheRead: tokens.cacheRead.toString(),
            cacheCreation: '0',
            reasoning: '0',
          },
    errorType: null,
    costNano: price.costNano === null ? null : price.costNano.toString(),
    rate: price.rate,
    unpriced: price.unpriced,
  };
}

const TICKS = 6;

interface Scenario {
  readonly traces: readonly (readonly Span[])[];
  readonly deliveries: readonly (readonly number[])[];
  readonly infra: readonly bigint[];
  readonly restarts: readonly number[];
  readonly rounds: readonly [number, number][];
}

const scenario = fc.record({
  traces: fc.tuple(
    fc.array(tree, { maxLength: 3 }),
    fc.array(tree, { maxLength: 3 }),
    fc.array(tree, { maxLength: 3 }),
  ),
  /** Ticks each delivery of a leaf's spans arrives in: a retry or duplicate is another tick. */
  deliveries: fc.array(fc.array(fc.nat({ max: TICKS - 1 }), { minLength: 1, maxLength: 3 }), {
    minLength: 64,
    maxLength: 64,
  }),
  infra: fc.array(fc.bigInt({ min: 0n, max: 10n ** 9n }), {
    minLength: TICKS * 3,
    maxLength: TICKS * 3,
  }),
  restarts: fc.subarray([...Array(TICKS).keys()]),
  /** Rounds of the operator: each pulls from some entry at or before its cursor to some later one. */
  rounds: fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 5 }),
});

/** The agent: per tick, each session's arrivals deduped against what the ledger holds. */
function writeLedger(s: Scenario): { entries: LedgerEntry[]; legs: Leg[][] } {
  let n = 0;
  const nextSpan = (): string => (++n).toString(16).padStart(16, '0');
  const legs = SESSIONS.flatMap((session, i) => flatten(session, i, s.traces[i] ?? [], nextSpan));
  const arrivals: Leg[][] = Array.from({ length: TICKS }, () => []);
  legs.forEach((spans, i) => {
    for (const tick of s.deliveries[i % s.deliveries.length] ?? [0]) {
      // Twins may arrive apart: the MCP twin one tick later when there is one.
      spans.forEach((leg, j) => arrivals[Math.min(TICKS - 1, tick + j)]?.push(leg));
    }
  });
  const bodies: LedgerBody[] = [];
  const entries: LedgerEntry[] = [];
  let seen = new Set<string>();
  const flush = (): void => {
    entries.push(...chainOf('a', bodies.splice(0), entries.at(-1)));
  };
  for (let tick = 0; tick < TICKS; tick++) {
    const atMs = T0 + tick * 1000;
    SESSIONS.forEach((session, i) => {
      const nano = s.infra[tick * SESSIONS.length + i] ?? 0n;
      const spec = { namespace: NAMESPACE, atMs, ...(session ? { session } : {}) };
      bodies.push(podBody({ ...spec, nano }, tick));
      const arrived = (arrivals[tick] ?? []).filter((l) => l.session === session);
      const { write, mark } = callsToWrite(
        seen,
        NAMESPACE,
        arrived.map((l) => l.record),
      );
      if (write.length === 0) return;
      bodies.push(callsEntryBody(spec, write, tick));
      // Write first, then mark seen.
      flush();
      for (const key of mark) seen.add(key);
    });
    flush();
    // A restart loses the marks; the ledger still holds what was written.
    if (s.restarts.includes(tick)) seen = seenFromLedger(entries);
  }
  return { entries, legs };
}

/** The operator: rounds over pages that restart at or before the cursor (repeats, overlaps). */
function fold(entries: readonly LedgerEntry[], rounds: readonly [number, number][]): PolicyState {
  let state = emptyState();
  let cursors: LedgerPosition[] = [];
  const at = (i: number): LedgerPosition =>
    i === 0
      ? { node: 'a', seq: 0n, hash: '0'.repeat(64) }
      : { node: 'a', seq: BigInt(i), hash: (entries[i - 1] as LedgerEntry).hash };
  const pull = (from: number, to: number): void => {
    const r = reducePolicy(
      state,
      cursors,
      [{ node: 'a', anchor: at(from), entries: entries.slice(from, to) }],
      view,
      T0 + TICKS * 1000,
    );
    expect(r.mismatches).toEqual([]);
    state = r.state;
    cursors = r.cursors;
  };
  for (const [a, b] of rounds) {
    const cursor = Number(cursors[0]?.seq ?? 0n);
    const from = a % (cursor + 1);
    pull(from, from + (b % (entries.length - from + 1)));
  }
  pull(Number(cursors[0]?.seq ?? 0n), entries.length);
  return state;
}

describe('calls entries: exactly once from span trees to the budgets', () => {
  it('gives each session its infrastructure plus each leaf call once', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { entries, legs } = writeLedger(s);
        for (const e of entries) expect(conservationViolation(e)).toBeNull();
        const state = fold(entries, s.rounds);

        const expected = new Map<string, bigint>();
        let total = 0n;
        const add = (session: Session, nano: bigint): void => {
          total += nano;
          if (session === null) return;
          const key = `${NAMESPACE}/${session}`;
          expected.set(key, (expected.get(key) ?? 0n) + nano);
        };
        SESSIONS.forEach((session, i) => {
          for (let tick = 0; tick < TICKS; tick++) add(session, s.infra[tick * 3 + i] ?? 0n);
        });
        // Each leaf once (an MCP twin is the same call), delivered or not at all.
        legs.forEach(([leg]) => {
          if (leg !== undefined) add(leg.session, BigInt(leg.record.costNano ?? '0'));
        });
        for (const key of [...expected.keys()]) if (expected.get(key) === 0n) expected.delete(key);
        const sessions = new Map(
          [...(state.budgets.get('sess')?.sums ?? new Map<string, bigint>())].filter(
            ([, nano]) => nano !== 0n,
          ),
        );
        expect(sessions).toEqual(expected);
        expect(state.budgets.get('all')?.sums.get('*') ?? 0n).toBe(total);
        // Every leaf was delivered at least once: each appears in the ledger exactly once.
        const written = entries.flatMap((e) => (e.kind === 'calls' ? e.calls : []));
        expect(written.length).toBe(legs.length);
      }),
      { numRuns: 150 },
    );
  }, 120_000);
});
