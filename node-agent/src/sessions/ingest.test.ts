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
import { extractTokenUsage } from './tokens.ts';

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

function span(attrs: Record<string, string | bigint>, over: Partial<SpanRecord> = {}): SpanRecord {
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

describe('tokens', () => {
  it('counts current and old names, prefers the response model, refuses non-integers', () => {
    expect(
      extractTokenUsage(
        new Map<string, AttrValue>([
          ['gen_ai.usage.input_tokens', 5n],
          ['gen_ai.usage.prompt_tokens', 99n],
          ['gen_ai.usage.output_tokens', 2n],
          ['gen_ai.request.model', 'gpt-4'],
          ['gen_ai.response.model', 'gpt-4-0613'],
        ]),
      ),
    ).toEqual({
      kind: 'usage',
      usage: { model: 'gpt-4-0613', inputTokens: 5n, outputTokens: 2n },
    });
    expect(
      extractTokenUsage(
        new Map<string, AttrValue>([
          ['gen_ai.usage.prompt_tokens', 7n],
          ['gen_ai.usage.completion_tokens', '3'],
        ]),
      ),
    ).toEqual({
      kind: 'usage',
      usage: { model: 'unknown', inputTokens: 7n, outputTokens: 3n },
    });
    expect(extractTokenUsage(new Map([['gen_ai.usage.input_tokens', 1.5]]))).toEqual({
      kind: 'invalid',
      key: 'gen_ai.usage.input_tokens',
    });
    expect(extractTokenUsage(new Map([['gen_ai.usage.output_tokens', -1n]]))).toMatchObject({
      kind: 'invalid',
    });
    expect(extractTokenUsage(new Map())).toEqual({ kind: 'none' });
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
    expect(ingest.tokens.get('team-a/s-1-0', 'llama-3.1-8b')?.requests).toBe(10n);
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
    // A span for the settled tick now counts for tokens only, as late.
    ingest.accept({ remoteAddress: '10.0.0.1', headers: {} }, batch.spans.slice(0, 1));
    expect(settlement.lateSpans).toBe(1);
  });

  it('uses the request baggage header and the exclusive annotation', () => {
    const annotated = { ...podA, annotations: { [SESSION_ANNOTATION]: 'job-7' } };
    const settlement = new Settlement<{ cpuNs: bigint }>();
    const ingest = new SessionIngest({ pods: directory([annotated]), settlement, clock: () => T });
    ingest.accept({ remoteAddress: '10.0.0.1', headers: { baggage: 'session.id=hdr-1' } }, [
      span({ 'gen_ai.usage.input_tokens': 3n }),
    ]);
    expect(ingest.tokens.get('team-a/hdr-1', 'unknown')?.inputTokens).toBe(3n);
    expect(ingest.counters.exclusiveConflicts).toBe(1);
    ingest.accept({ remoteAddress: '10.0.0.1', headers: {} }, [
      span({ 'gen_ai.usage.input_tokens': 4n }, { traceId: 'e'.repeat(32) }),
    ]);
    ingest.flush(true);
    expect(ingest.tokens.get('team-a/job-7', 'unknown')?.inputTokens).toBe(4n);
    const untrusted = new SessionIngest({ pods: directory([]), settlement, clock: () => T });
    const refused = untrusted.accept({ remoteAddress: '1.2.3.4', headers: {} }, [span({})]);
    expect(refused.rejected).toBe(1);
    expect(refused.reasons.join()).toMatch(/not a live pod of this node/);
    expect(unattributedKeyString('ns')).toBe('ns/');
  });
});
