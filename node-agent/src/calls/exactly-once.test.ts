// Property: for random trees of spans sent with random retries, duplicates, MCP twins of tool
// calls and any order or chunking, each session's total is its infrastructure share plus each
// leaf call priced once, exactly, through the real ingest, batcher and session view.
import {
  parseMoney,
  zeroUsage,
  type CallRecord,
  type CallUsage,
  type Usage,
} from '@agentmeter/crds';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { testPricer } from '../batches/test-pricer.ts';
import { TickBatcher } from '../batches/tick-batcher.ts';
import { SessionBook } from '../http/session-book.ts';
import { sessionView } from '../http/sessions-api.ts';
import type { AttrValue, SpanRecord } from '../otlp/types.ts';
import { SPAN_KIND_CLIENT, SPAN_KIND_INTERNAL } from '../otlp/types.ts';
import type { PodMeta } from '../pods/pod-meta.ts';
import { SessionIngest, Settlement } from '../sessions/index.ts';

const T = 1_760_000_000_000_000_000n;
const SECOND = 1_000_000_000n;
const meta: PodMeta = {
  uid: 'uid-a',
  namespace: 'team-a',
  name: 'a',
  phase: 'Running',
  annotations: {},
  labels: {},
  podIPs: ['10.0.0.1'],
  hostNetwork: false,
  terminated: false,
};
const spec = {
  currency: 'USD',
  rates: {
    cpuCoreHour: '3.6',
    tokens: [
      {
        model: 'm1',
        inputPerMillion: '3',
        outputPerMillion: '15',
        cacheReadPerMillion: '0.30',
        cacheCreationPerMillion: '3.75',
        longContext: { aboveInputTokens: 200_000, inputPerMillion: '6', outputPerMillion: '22.5' },
      },
      { model: '*', inputPerMillion: '1', outputPerMillion: '2' },
    ],
    tools: [{ name: 'web_search', perCall: '0.01' }],
    apis: [{ host: '*.stripe.com', perCall: '0.002' }],
  },
};
const { pricer } = testPricer(spec);
type Leaf =
  | { kind: 'model'; model: string; input: number; cacheRead: number; output: number }
  | { kind: 'tool'; name: string; callId: string | null; mcpTwin: boolean }
  | { kind: 'api'; host: string }
  | { kind: 'wrapper' }
  | { kind: 'plain' };

const leafArb: fc.Arbitrary<Leaf> = fc.oneof(
  fc.record({
    kind: fc.constant('model' as const),
    model: fc.constantFrom('m1', 'm2'),
    input: fc.integer({ min: 0, max: 300_000 }),
    cacheRead: fc.integer({ min: 0, max: 300_000 }),
    output: fc.integer({ min: 0, max: 5_000 }),
  }),
  fc.record({
    kind: fc.constant('tool' as const),
    name: fc.constantFrom('web_search', 'shell'),
    callId: fc.option(fc.constantFrom('c1', 'c2', 'c3', 'c4'), { nil: null }),
    mcpTwin: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('api' as const),
    host: fc.constantFrom('api.stripe.com', 'example.com'),
  }),
  fc.constant({ kind: 'wrapper' as const }),
  fc.constant({ kind: 'plain' as const }),
);

const sessionArb = fc.array(fc.record({ leaf: leafArb, parent: fc.nat() }), {
  minLength: 1,
  maxLength: 12,
});

/** Spans sharing a tool call id are one tool call, so they name the same tool. */
function toolName(leaf: Extract<Leaf, { kind: 'tool' }>): string {
  if (leaf.callId === null) return leaf.name;
  return leaf.callId.endsWith('1') || leaf.callId.endsWith('3') ? 'web_search' : 'shell';
}

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');

function leafAttrs(leaf: Leaf): Record<string, AttrValue> {
  switch (leaf.kind) {
    case 'model':
      return {
        'gen_ai.operation.name': 'chat',
        'gen_ai.request.model': leaf.model,
        // Integral doubles as some SDKs send them.
        'gen_ai.usage.input_tokens': leaf.input + leaf.cacheRead + 0.0,
        'gen_ai.usage.cache_read.input_tokens': BigInt(leaf.cacheRead),
        'gen_ai.usage.output_tokens': BigInt(leaf.output),
      };
    case 'tool':
      return {
        'gen_ai.operation.name': 'execute_tool',
        'gen_ai.tool.name': toolName(leaf),
        ...(leaf.callId === null ? {} : { 'gen_ai.tool.call.id': leaf.callId }),
      };
    case 'api':
      return { 'http.request.method': 'GET', 'server.address': leaf.host };
    case 'wrapper':
      // Aggregates carry their children's usage: never a call.
      return { 'gen_ai.operation.name': 'invoke_workflow', 'gen_ai.usage.input_tokens': 999n };
    case 'plain':
      return { 'http.route': '/x' };
  }
}

/** What pricing should see of a leaf, straight from the model (not from the agent's reader). */
function expectedUsage(leaf: Leaf): CallUsage | null {
  switch (leaf.kind) {
    case 'model':
      return {
        kind: 'model',
        model: leaf.model,
        toolName: null,
        apiHost: null,
        tokens: {
          input: BigInt(leaf.input + leaf.cacheRead),
          output: BigInt(leaf.output),
          cacheRead: BigInt(leaf.cacheRead),
          cacheCreation: 0n,
          reasoning: 0n,
        },
      };
    case 'tool':
      return { kind: 'tool', model: null, toolName: toolName(leaf), apiHost: null, tokens: null };
    case 'api':
      return leaf.host.endsWith('.stripe.com')
        ? { kind: 'api', model: null, toolName: null, apiHost: leaf.host, tokens: null }
        : null;
    default:
      return null;
  }
}

/** Every span of the sessions (MCP twins of tool calls included), and each session's calls. */
function spansOf(sessions: { leaf: Leaf; parent: number }[][]): {
  spans: SpanRecord[];
  expected: CallUsage[][];
} {
  const out: SpanRecord[] = [];
  const expected: CallUsage[][] = [];
  sessions.forEach((nodes, s) => {
    const traceId = hex(s + 1, 32);
    const rootId = hex((s + 1) * 1000, 16);
    const span = (
      id: string,
      parent: string | undefined,
      i: number,
      attrs: Record<string, AttrValue>,
      kind = SPAN_KIND_INTERNAL,
    ): SpanRecord => ({
      traceId,
      spanId: id,
      ...(parent === undefined ? {} : { parentSpanId: parent }),
      name: 'span',
      kind,
      startNs: T + BigInt(i) * 1000n,
      endNs: T + BigInt(i) * 1000n + 500n,
      attributes: new Map(Object.entries(attrs)),
      resourceAttributes: new Map(),
    });
    out.push(
      span(rootId, undefined, 0, {
        'session.id': `s${s}`,
        'gen_ai.operation.name': 'invoke_agent',
      }),
    );
    const ids = [rootId];
    const calls: CallUsage[] = [];
    const callIds = new Set<string>();
    expected.push(calls);
    nodes.forEach(({ leaf: raw, parent }, i) => {
      // Tool call ids are unique to their conversation, as model APIs issue them.
      const leaf: Leaf =
        raw.kind === 'tool' && raw.callId !== null
          ? { ...raw, callId: `s${s}-${raw.callId}` }
          : raw;
      const id = hex((s + 1) * 1000 + i + 1, 16);
      const parentId = ids[parent % ids.length];
      ids.push(id);
      const usage = expectedUsage(leaf);
      const callId = leaf.kind === 'tool' ? leaf.callId : null;
      if (usage !== null && (callId === null || !callIds.has(callId))) calls.push(usage);
      if (callId !== null) callIds.add(callId);
      out.push(
        span(
          id,
          parentId,
          i + 1,
          leafAttrs(leaf),
          leaf.kind === 'api' ? SPAN_KIND_CLIENT : SPAN_KIND_INTERNAL,
        ),
      );
      if (leaf.kind === 'tool' && leaf.mcpTwin && leaf.callId !== null) {
        // The same tool call seen again as its MCP client span: one call.
        out.push(
          span(hex((s + 1) * 1000 + 500 + i, 16), id, i + 1, {
            'mcp.method.name': 'tools/call',
            'gen_ai.tool.name': toolName(leaf),
            'gen_ai.tool.call.id': leaf.callId,
          }),
        );
      }
    });
  });
  return { spans: out, expected };
}

describe('every leaf call once, sessions add up', () => {
  it('holds for random span trees, retries, duplicates and chunking', () => {
    fc.assert(
      fc.property(
        fc.array(sessionArb, { minLength: 1, maxLength: 3 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        (sessions, repeats, chunk, seed) => {
          const { spans, expected } = spansOf(sessions);
          // Retries and duplicates, in a shuffled order, sent in chunks.
          const sent = [...spans, ...repeats.map((r) => spans[r % spans.length] as SpanRecord)];
          let x = seed;
          for (let i = sent.length - 1; i > 0; i--) {
            x = (x * 1103515245 + 12345) % 2147483648;
            const j = x % (i + 1);
            [sent[i], sent[j]] = [sent[j] as SpanRecord, sent[i] as SpanRecord];
          }
          const settlement = new Settlement<Usage>({ watermarkTicks: 0 });
          const ingest = new SessionIngest<Usage>({
            pods: {
              podsByIp: (ip) => (ip === '10.0.0.1' ? [meta] : []),
              podByUid: (uid) => (uid === meta.uid ? meta : undefined),
            },
            settlement,
            clock: () => T + SECOND,
            apiHosts: () => (host) => (host.endsWith('.stripe.com') ? '*.stripe.com' : null),
          });
          for (let i = 0; i < sent.length; i += chunk) {
            const r = ingest.accept(
              { remoteAddress: '10.0.0.1', headers: {} },
              sent.slice(i, i + chunk),
            );
            expect(r.rejected).toBe(0);
          }
          const batcher = new TickBatcher({
            settlement,
            calls: ingest.calls,
            pricer,
            podByUid: () => meta,
            watermarkTicks: 0,
            releaseSpans: (all) => ingest.flush(all),
          });
          const usage: Usage = { ...zeroUsage(), cpuNs: 7_000_000_007n };
          const book = new SessionBook();
          const batches = [
            ...batcher.push({
              tick: '1',
              time: { start: String(T), end: String(T + SECOND) },
              pods: [{ meta, qos: 'Burstable', usage, flags: [], pricing: pricer.policyFor(meta) }],
              result: {
                pods: [{ uid: meta.uid, usage, flags: [] }],
                node: { total: usage, pods: usage, nonPod: zeroUsage(), skew: zeroUsage() },
                baselines: { pods: new Map(), node: undefined },
              },
            }),
            ...batcher.flush(),
          ];
          batches.forEach((b, i) => book.apply(b, T, BigInt(i + 1)));

          // The oracle: each distinct leaf span once, tool call ids once, priced on its own.
          const written: CallRecord[] = batches.flatMap((b) => b.calls.flatMap((g) => g.calls));
          sessions.forEach((_nodes, s) => {
            const traceId = hex(s + 1, 32);
            const ref = pricer.policyFor(meta);
            if (ref === null) throw new Error('no policy');
            const calls = expected[s] ?? [];
            const expectedCalls = calls.length;
            const callsNano = calls.reduce(
              (sum, usage) => sum + (pricer.priceCall(ref, usage).costNano ?? 0n),
              0n,
            );
            const mine = written.filter((c) => c.traceId === traceId);
            expect(mine).toHaveLength(expectedCalls);
            expect(new Set(mine.map((c) => c.spanId)).size).toBe(mine.length);
            const infra = batches
              .flatMap((b) => b.shares)
              .filter((sh) => sh.session?.id === `s${s}`)
              .reduce((sum, sh) => sum + sh.costNano, 0n);
            const record = book.get('team-a', `s${s}`);
            if (record === undefined) {
              expect(infra + callsNano).toBe(0n);
              return;
            }
            const view = sessionView(record, 'n', false, 0n) as {
              cost: { total: { USD?: string } };
            };
            expect(parseMoney(view.cost.total.USD ?? '0')).toBe(infra + callsNano);
          });
        },
      ),
      { numRuns: 150 },
    );
  });
});
