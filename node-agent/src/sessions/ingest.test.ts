import { describe, expect, it } from 'vitest';
import { decodeJsonValue } from '../otlp/decode-json.ts';
import { makeTraceBatch } from '../otlp/test-payloads.ts';
import type { AttrValue, SpanRecord } from '../otlp/types.ts';
import type { PodDirectory, PodIdentity } from './identity.ts';
import { IDENTITY_REFUSALS, identifySource, normaliseAddress, spanIdentity } from './identity.ts';
import { SessionIngest, unattributedKeyString } from './ingest.ts';
import { SessionResolver } from './resolve.ts';
import type { SpanContext } from './resolve.ts';
import { SESSION_ANNOTATION } from './session-id.ts';
import { Settlement } from './settlement.ts';
import { CallCollector, CallDedupe, type CallGroup } from '../calls/index.ts';
import { SinkOverloadedError } from '../otlp/receiver.ts';
import { STEP_SPANS } from '../otlp/steps.ts';
import { SPAN_KIND_CLIENT } from '../otlp/types.ts';

const podA: PodIdentity = {
  uid: 'uid-a',
  namespace: 'team-a',
  name: 'a',
  podIPs: ['10.0.0.1'],
  hostNetwork: false,
};
const podB: PodIdentity = {
  uid: 'uid-b',
  namespace: 'team-b',
  name: 'b',
  podIPs: ['10.0.0.2'],
  hostNetwork: false,
};
const hostPod: PodIdentity = {
  uid: 'uid-h',
  namespace: 'kube-system',
  name: 'h',
  podIPs: ['10.0.9.9'],
  hostNetwork: true,
};

function directory(pods: PodIdentity[]): PodDirectory {
  return {
    podsByIp: (ip) => pods.filter((p) => p.podIPs.includes(ip)),
    podByUid: (uid) => pods.find((p) => p.uid === uid),
  };
}

const T = 1_760_000_000_000_000_000n;
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

function span(attrs: Record<string, AttrValue>, over: Partial<SpanRecord> = {}): SpanRecord {
  return {
    traceId: TRACE,
    spanId: '00f067aa0ba902b7',
    name: 's',
    kind: 1,
    startNs: T,
    endNs: T + 1000n,
    attributes: new Map(Object.entries(attrs)),
    resourceAttributes: new Map(),
    ...over,
  };
}

const ctx: SpanContext = { podUid: 'uid-a', namespace: 'team-a', verified: true, nowNs: T };

describe('identity', () => {
  const pods = directory([podA, podB, hostPod, { ...podB, uid: 'uid-b2' }]);
  it('verifies exactly one live non-hostNetwork pod by source address', () => {
    expect(identifySource('::ffff:10.0.0.1', pods)).toEqual({ kind: 'verified', pod: podA });
    expect(identifySource('10.0.0.2', pods).kind).toBe('ambiguous');
    expect(identifySource('10.0.9.9', pods).kind).toBe('unknown');
    expect(normaliseAddress('FE80::1')).toBe('fe80::1');
  });

  it('rejects a contradicting claim and flags unverified ones', () => {
    const verified = identifySource('10.0.0.1', pods);
    expect(spanIdentity(verified, 'uid-b', pods, false)).toEqual({
      ok: false,
      reason: 'spoofed_pod',
    });
    expect(spanIdentity(verified, 'uid-a', pods, false)).toMatchObject({
      ok: true,
      verified: true,
    });
    const unknown = identifySource('192.168.0.1', pods);
    expect(spanIdentity(unknown, undefined, pods, false)).toEqual({
      ok: false,
      reason: 'unknown_pod',
    });
    expect(spanIdentity(unknown, 'uid-zzz', pods, true)).toEqual({
      ok: false,
      reason: 'unknown_pod',
    });
    expect(spanIdentity(unknown, 'uid-h', pods, true)).toMatchObject({
      ok: true,
      verified: false,
    });
    // By default no source is trusted: a claim from an address that is no pod here is refused.
    expect(spanIdentity(unknown, 'uid-h', pods, false)).toEqual({
      ok: false,
      reason: 'untrusted_source',
    });
    const ambiguous = identifySource('10.0.0.2', pods);
    expect(spanIdentity(ambiguous, undefined, pods, false)).toEqual({
      ok: false,
      reason: 'ambiguous_pod',
    });
    expect(spanIdentity(ambiguous, 'uid-a', pods, false)).toEqual({
      ok: false,
      reason: 'spoofed_pod',
    });
    expect(spanIdentity(ambiguous, 'uid-b2', pods, false)).toMatchObject({
      ok: true,
      verified: false,
    });
  });
});

describe('SessionResolver', () => {
  it('follows the precedence order and records the source', () => {
    const r = new SessionResolver();
    const cases: [Record<string, string>, Partial<SpanContext>, string, string][] = [
      [{ 'session.id': 'span', 'gen_ai.conversation.id': 'conv' }, {}, 'span', 'span'],
      [{ baggage: 'x=1,session.id=bag', 'langfuse.session.id': 'lf' }, {}, 'bag', 'baggage'],
      [{ 'langfuse.session.id': 'lf', 'gen_ai.conversation.id': 'conv' }, {}, 'lf', 'vendor'],
      [{ 'traceloop.association.properties.thread_id': 'th' }, {}, 'th', 'vendor'],
      [{}, { headerSessionId: 'hdr' }, 'hdr', 'header_baggage'],
    ];
    for (const [attrs, extra, id, source] of cases) {
      const out = r.resolve(
        span(attrs, { traceId: `${id.padEnd(8, '0')}`.repeat(4).slice(0, 32) }),
        { ...ctx, ...extra },
      );
      expect(out).toMatchObject({
        kind: 'resolved',
        spans: [{ key: { namespace: 'team-a', id }, source }],
      });
    }
    const res = r.resolve(
      span({}, { traceId: 'f'.repeat(32), resourceAttributes: new Map([['session.id', 'res']]) }),
      ctx,
    );
    expect(res).toMatchObject({
      kind: 'resolved',
      spans: [{ key: { id: 'res' }, source: 'resource' }],
    });
  });

  it('refuses invalid session ids', () => {
    const r = new SessionResolver();
    expect(r.resolve(span({ 'session.id': 'bad id' }), ctx)).toEqual({
      kind: 'invalid_session_id',
      attribute: 'session.id',
    });
    expect(r.resolve(span({ 'session.id': 42n }), ctx).kind).toBe('invalid_session_id');
  });

  it('inherits through the trace, buffering spans until the trace names a session', () => {
    const r = new SessionResolver();
    // A model server's span arrives first with only the trace id, in another namespace.
    const child = span({}, { spanId: '1111111111111111' });
    expect(r.resolve(child, { ...ctx, namespace: 'team-b', podUid: 'uid-b' })).toEqual({
      kind: 'pending',
    });
    expect(r.pendingSpans).toBe(1);
    const root = r.resolve(span({ 'session.id': 'S' }), ctx);
    expect(root).toMatchObject({
      kind: 'resolved',
      spans: [
        { key: { namespace: 'team-a', id: 'S' }, source: 'span' },
        // The inheriting pod's namespace: a tenant never charges another namespace.
        { key: { namespace: 'team-b', id: 'S' }, source: 'trace' },
      ],
    });
    expect(r.resolve(span({}, { spanId: '2222222222222222' }), ctx)).toMatchObject({
      kind: 'resolved',
      spans: [{ key: { id: 'S' }, source: 'trace' }],
    });
    // A second explicit session in the same trace: counted conflict, explicit wins.
    expect(r.resolve(span({ 'session.id': 'T' }), ctx)).toMatchObject({
      spans: [{ key: { id: 'T' } }],
    });
    expect(r.conflicts).toBe(1);
    expect(r.resolve(span({}), ctx)).toMatchObject({ spans: [{ key: { id: 'S' } }] });
  });

  it('uses the request traceparent, then the annotation, after the hold', () => {
    const r = new SessionResolver({ pendingHoldNs: 10n });
    r.resolve(span({ 'session.id': 'S' }, { traceId: 'a'.repeat(32) }), ctx);
    expect(r.resolve(span({}), { ...ctx, headerTraceId: 'a'.repeat(32) })).toMatchObject({
      spans: [{ key: { id: 'S' }, source: 'header_traceparent' }],
    });
    expect(
      r.resolve(span({}, { traceId: 'c'.repeat(32) }), { ...ctx, annotationSessionId: 'job-1' })
        .kind,
    ).toBe('pending');
    expect(r.resolve(span({}, { traceId: 'd'.repeat(32) }), ctx).kind).toBe('pending');
    expect(r.flush(T + 5n)).toEqual([]);
    const released = r.flush(T + 10n);
    expect(released.map((s) => [s.key?.id ?? null, s.source])).toEqual([
      ['job-1', 'annotation'],
      [null, 'none'],
    ]);
    expect(r.pendingSpans).toBe(0);
  });

  it('forgets traces after the TTL and beyond the LRU capacity', () => {
    const r = new SessionResolver({ traceTtlNs: 100n, traceCapacity: 2, pendingCapacity: 0 });
    for (const t of ['1', '2', '3'])
      r.resolve(span({ 'session.id': `s${t}` }, { traceId: t.repeat(32) }), ctx);
    expect(r.tracesRemembered).toBe(2);
    expect(r.resolve(span({}, { traceId: '1'.repeat(32) }), ctx)).toMatchObject({
      spans: [{ key: null, source: 'none' }],
    });
    expect(r.resolve(span({}, { traceId: '3'.repeat(32) }), ctx)).toMatchObject({
      spans: [{ key: { id: 's3' } }],
    });
    expect(
      r.resolve(span({}, { traceId: '3'.repeat(32) }), { ...ctx, nowNs: T + 1000n }),
    ).toMatchObject({ spans: [{ key: null }] });
  });
});

describe('SessionIngest', () => {
  it('joins a decoded batch to pods, sessions, activity and tokens', () => {
    let now = T;
    const settlement = new Settlement<{ cpuNs: bigint }>();
    const ingest = new SessionIngest({
      pods: directory([podA, podB]),
      settlement,
      clock: () => now,
    });
    const batch = decodeJsonValue(
      makeTraceBatch({ spans: 20, sessions: 2, spansPerTrace: 5, startNs: T, podUid: 'uid-a' }),
    );
    expect(ingest.accept({ remoteAddress: '10.0.0.1', headers: {} }, batch.spans)).toEqual({
      rejected: 0,
      reasons: [],
    });
    expect(ingest.accept({ remoteAddress: '10.0.0.2', headers: {} }, batch.spans)).toEqual({
      rejected: 20,
      reasons: [`spoofed_pod: 20, ${IDENTITY_REFUSALS.spoofed_pod}`],
    });
    const [s0, s1] = ingest.calls.drain();
    expect([s0?.sessionKey, s0?.calls.length, s1?.sessionKey, s1?.calls.length]).toEqual([
      'team-a/s-1-0',
      10,
      'team-a/s-1-1',
      10,
    ]);
    expect(s0?.pod).toEqual({ uid: 'uid-a', namespace: 'team-a', name: 'a' });
    expect(s0?.calls[0]).toMatchObject({ kind: 'model', model: 'llama-3.1-8b' });
    now += 1n;
    const [settled] = [
      ...settlement.pushTick({
        podUid: 'uid-a',
        window: { t0: T, t1: T + 1_000_000_000n },
        usage: { cpuNs: 1000n },
      }),
      ...settlement.pushTick({
        podUid: 'uid-a',
        window: { t0: T + 1_000_000_000n, t1: T + 2_000_000_000n },
        usage: { cpuNs: 5n },
      }),
      ...settlement.pushTick({
        podUid: 'uid-a',
        window: { t0: T + 2_000_000_000n, t1: T + 3_000_000_000n },
        usage: { cpuNs: 5n },
      }),
    ];
    expect([...(settled?.shares.keys() ?? [])]).toEqual(['team-a/s-1-0', 'team-a/s-1-1']);
    // Spans cover [T, T + 269 ms): pool = floor(1000 · 0.269) = 269.
    expect(settled?.unattributed.cpuNs).toBe(731n);
    // A span for the settled tick now counts as late activity; its call was counted already.
    ingest.accept({ remoteAddress: '10.0.0.1', headers: {} }, batch.spans.slice(0, 1));
    expect(settlement.lateSpans).toBe(1);
    expect(ingest.counters.duplicateCalls).toBe(1);
    expect(ingest.calls.pending).toBe(0);
  });

  it('uses the request baggage header and the exclusive annotation', () => {
    const annotated = { ...podA, annotations: { [SESSION_ANNOTATION]: 'job-7' } };
    const settlement = new Settlement<{ cpuNs: bigint }>();
    const ingest = new SessionIngest({ pods: directory([annotated]), settlement, clock: () => T });
    ingest.accept({ remoteAddress: '10.0.0.1', headers: { baggage: 'session.id=hdr-1' } }, [
      span({ 'gen_ai.usage.input_tokens': 3n }),
    ]);
    const tokensOf = (groups: CallGroup[], key: string) =>
      groups.find((g) => g.sessionKey === key)?.calls[0]?.tokens?.input;
    expect(tokensOf(ingest.calls.drain(), 'team-a/hdr-1')).toBe(3n);
    expect(ingest.counters.exclusiveConflicts).toBe(1);
    ingest.accept({ remoteAddress: '10.0.0.1', headers: {} }, [
      span({ 'gen_ai.usage.input_tokens': 4n }, { traceId: 'e'.repeat(32) }),
    ]);
    ingest.flush(true);
    expect(tokensOf(ingest.calls.drain(), 'team-a/job-7')).toBe(4n);
    const untrusted = new SessionIngest({ pods: directory([]), settlement, clock: () => T });
    const refused = untrusted.accept({ remoteAddress: '1.2.3.4', headers: {} }, [span({})]);
    expect(refused.rejected).toBe(1);
    expect(refused.reasons.join()).toMatch(/not a live pod of this node/);
    expect(unattributedKeyString('ns')).toBe('ns/');
  });

  it('counts each call once across retries, and refuses a bad token count with a reason', () => {
    const ingest = new SessionIngest({
      pods: directory([podA, podB]),
      settlement: new Settlement<{ cpuNs: bigint }>(),
      clock: () => T + 2000n,
    });
    const from = (ip: string) => ({ remoteAddress: ip, headers: {} });
    const chat = span({ 'session.id': 's', 'gen_ai.usage.input_tokens': 100.0 });
    expect(ingest.accept(from('10.0.0.1'), [chat])).toEqual({ rejected: 0, reasons: [] });
    // The exporter retries the same span: accepted (so it stops retrying), counted once.
    expect(ingest.accept(from('10.0.0.1'), [chat]).rejected).toBe(0);
    expect(ingest.counters.duplicateCalls).toBe(1);
    // The same ids from another tenant's pod are that tenant's call.
    const other = span({ 'session.id': 's', 'gen_ai.usage.input_tokens': 1n });
    expect(ingest.accept(from('10.0.0.2'), [other]).rejected).toBe(0);
    const bad = span(
      { 'gen_ai.usage.input_tokens': 100.5, 'gen_ai.usage.output_tokens': 5n },
      { spanId: '1'.repeat(16) },
    );
    expect(ingest.accept(from('10.0.0.1'), [bad])).toEqual({
      rejected: 1,
      reasons: ['token_count_fractional: 1, a gen_ai.usage count is not a whole number'],
    });
    expect(ingest.counters.rejected.get('token_count_fractional')).toBe(1);
    const groups = ingest.calls.drain();
    expect(groups.map((g) => [g.pod.uid, g.sessionKey, g.calls.length])).toEqual([
      ['uid-a', 'team-a/s', 1],
      ['uid-b', 'team-b/s', 1],
    ]);
  });

  it('takes a large request in steps of STEP_SPANS spans, refusing a full collector before any', () => {
    const make = (maxPending: number) =>
      new SessionIngest({
        pods: directory([podA]),
        settlement: new Settlement<{ cpuNs: bigint }>(),
        calls: new CallCollector({ maxPending }),
        clock: () => T,
      });
    const from = { remoteAddress: '10.0.0.1', headers: {} };
    const spans = decodeJsonValue(
      makeTraceBatch({ spans: 2 * STEP_SPANS + 1, startNs: T, podUid: 'uid-a' }),
    ).spans;
    const stepped = make(10_000);
    const steps = stepped.acceptSteps(from, spans);
    let yields = 0;
    let step = steps.next();
    for (; step.done !== true; step = steps.next()) yields++;
    expect(yields).toBe(2);
    const whole = make(10_000);
    expect(step.value).toEqual(whole.accept(from, spans));
    expect(stepped.counters).toEqual(whole.counters);
    expect(stepped.calls.pending).toBe(whole.calls.pending);
    const full = make(0);
    expect(() => full.acceptSteps(from, spans).next()).toThrow(SinkOverloadedError);
    expect(full.counters.accepted).toBe(0);
  });

  it('dedupes on the tool call id, refuses stale calls, and pushes back when full', () => {
    const dedupe = new CallDedupe({ windowNs: 60_000_000_000n });
    const calls = new CallCollector({ maxPending: 2 });
    let now = T + 2000n;
    const ingest = new SessionIngest({
      pods: directory([podA]),
      settlement: new Settlement<{ cpuNs: bigint }>(),
      clock: () => now,
      dedupe,
      calls,
      apiHosts: () => (host) => (host === 'api.stripe.com' ? host : null),
    });
    const from = { remoteAddress: '10.0.0.1', headers: {} };
    const tool = (spanId: string, op: Record<string, AttrValue>) =>
      span({ 'session.id': 's', 'gen_ai.tool.call.id': 'call_1', ...op }, { spanId });
    ingest.accept(from, [
      tool('1'.repeat(16), { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'x' }),
      tool('2'.repeat(16), { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'x' }),
      span(
        { 'session.id': 's', 'http.request.method': 'GET', 'server.address': 'api.stripe.com' },
        { spanId: '3'.repeat(16), kind: SPAN_KIND_CLIENT },
      ),
    ]);
    expect(ingest.counters.duplicateCalls).toBe(1);
    expect(calls.pending).toBe(2);
    expect(() => ingest.accept(from, [span({ 'gen_ai.usage.input_tokens': 1n })])).toThrow(
      SinkOverloadedError,
    );
    expect(calls.drain()[0]?.calls.map((c) => c.kind)).toEqual(['tool', 'api']);
    now = T + 120_000_000_000n;
    const late = ingest.accept(from, [
      span({ 'gen_ai.usage.input_tokens': 1n }, { spanId: '4'.repeat(16) }),
    ]);
    expect(late.rejected).toBe(1);
    expect(late.reasons[0]).toMatch(/^stale_call: 1, the call ended before the dedupe window/);
  });

  it('records the argument hash of tool calls and counts ignored hashes by reason', () => {
    const ingest = new SessionIngest({
      pods: directory([podA]),
      settlement: new Settlement<{ cpuNs: bigint }>(),
      clock: () => T + 2000n,
    });
    const tool = (spanId: string, extra: Record<string, AttrValue>) =>
      span(
        {
          'session.id': 's',
          'gen_ai.operation.name': 'execute_tool',
          'gen_ai.tool.name': 'x',
          ...extra,
        },
        { spanId },
      );
    const sent = 'cd'.repeat(32);
    ingest.accept({ remoteAddress: '10.0.0.1', headers: {} }, [
      tool('1'.repeat(16), { 'agentmeter.tool.arguments_hash': sent }),
      tool('2'.repeat(16), { 'agentmeter.tool.arguments_hash': 'not-a-hash' }),
      tool('3'.repeat(16), { 'gen_ai.tool.call.arguments': new Map([['q', 'x']]) }),
      tool('4'.repeat(16), { 'agentmeter.tool.arguments_hash': 'NOPE' }),
    ]);
    expect(ingest.calls.drain()[0]?.calls.map((c) => c.tool?.argsHash)).toEqual([
      sent,
      null,
      null,
      null,
    ]);
    expect(ingest.counters.argsHashIgnored).toEqual(
      new Map([
        ['hash_malformed', 2],
        ['arguments_not_a_string', 1],
      ]),
    );
  });

  it("records the pod's policy's span-attribute tags with each call, from the span or its resource", () => {
    const asked: string[] = [];
    const ingest = new SessionIngest({
      pods: directory([podA]),
      settlement: new Settlement<{ cpuNs: bigint }>(),
      clock: () => T + 2000n,
      spanTags: (uid) => {
        asked.push(uid);
        return [
          { name: 'agent', attribute: 'gen_ai.agent.name' },
          { name: 'tenant', attribute: 'app.tenant' },
        ];
      },
    });
    const chat = (spanId: string, attrs: Record<string, AttrValue>) =>
      span({ 'session.id': 's', 'gen_ai.usage.input_tokens': 1n, ...attrs }, { spanId });
    ingest.accept({ remoteAddress: '10.0.0.1', headers: {} }, [
      chat('1'.repeat(16), { 'gen_ai.agent.name': 'planner' }),
      { ...chat('2'.repeat(16), {}), resourceAttributes: new Map([['app.tenant', 'acme']]) },
      // Not a string, or too long for the ledger: no value rather than a cut one.
      chat('3'.repeat(16), { 'gen_ai.agent.name': 7n, 'app.tenant': 'x'.repeat(257) }),
    ]);
    expect(ingest.calls.drain()[0]?.calls.map((c) => c.spanTags)).toEqual([
      { agent: 'planner' },
      { tenant: 'acme' },
      undefined,
    ]);
    expect(asked.every((uid) => uid === 'uid-a')).toBe(true);
  });
});
