// The session of each span, in order: (1) `session.id` on the span,
// then on the resource; (2) the `session.id` member of baggage forwarded as an attribute;
// (3) `langfuse.session.id`, `gen_ai.conversation.id` and other vendor keys; the request's own
// `baggage` header; (4) another span of the same trace (or the request's `traceparent`);
// (5) the pod annotation; else unattributed.
import type { Attributes, AttrValue, SpanRecord } from '../otlp/types.ts';
import type { SessionKey } from './session-id.ts';
import { isValidSessionId } from './session-id.ts';
import { baggageValue, parseBaggage } from './w3c.ts';

export const SESSION_ID_ATTRIBUTE = 'session.id';

export interface ResolverConfig {
  /** Step 3, in precedence order. */
  readonly vendorKeys: readonly string[];
  /** Attributes that may hold a raw `baggage` header value (step 2). */
  readonly baggageAttributeKeys: readonly string[];
  /** A trace's session is forgotten this long after its last span. */
  readonly traceTtlNs: bigint;
  /** Most traces remembered; the least recently used is forgotten first. */
  readonly traceCapacity: number;
  /** How long a span with no session waits for another span of its trace. */
  readonly pendingHoldNs: bigint;
  /** Most spans waiting; beyond it spans resolve at once by the fallbacks. */
  readonly pendingCapacity: number;
}

export const DEFAULT_RESOLVER_CONFIG: ResolverConfig = {
  vendorKeys: [
    'langfuse.session.id',
    'gen_ai.conversation.id',
    'traceloop.association.properties.session_id',
    'traceloop.association.properties.thread_id',
    'traceloop.association.properties.conversation_id',
    'traceloop.association.properties.chat_id',
  ],
  baggageAttributeKeys: ['baggage', 'http.request.header.baggage'],
  traceTtlNs: 3_600_000_000_000n,
  traceCapacity: 200_000,
  // Two 10 s ticks: released spans still land before the tick is settled.
  pendingHoldNs: 20_000_000_000n,
  pendingCapacity: 100_000,
};

export type SessionSource =
  | 'span'
  | 'resource'
  | 'baggage'
  | 'vendor'
  | 'header_baggage'
  | 'trace'
  | 'header_traceparent'
  | 'annotation'
  | 'none';

/** What the node knows about the request a span came in. */
export interface SpanContext {
  readonly podUid: string;
  /** The pod's namespace: every session key of its spans is in it. */
  readonly namespace: string;
  readonly verified: boolean;
  /** Valid `agentmeter.dev/session-id` (or alias) of the pod, when it has one. */
  readonly annotationSessionId?: string;
  /** `session.id` of the request's `baggage` header. */
  readonly headerSessionId?: string;
  /** Trace id of the request's `traceparent` header. */
  readonly headerTraceId?: string;
  readonly nowNs: bigint;
}

export interface ResolvedSpan {
  readonly span: SpanRecord;
  readonly context: SpanContext;
  /** Null: unattributed (tokens still count for the namespace). */
  readonly key: SessionKey | null;
  readonly source: SessionSource;
  /** For `vendor`, which attribute. */
  readonly sourceKey?: string;
}

export type ResolveOutcome =
  | { readonly kind: 'resolved'; readonly spans: readonly ResolvedSpan[] }
  | { readonly kind: 'pending' }
  | { readonly kind: 'invalid_session_id'; readonly attribute: string };

interface Explicit {
  readonly id: string;
  readonly source: SessionSource;
  readonly sourceKey: string;
}

interface TraceEntry {
  readonly id: string;
  expiresNs: bigint;
}

interface Pending {
  readonly span: SpanRecord;
  readonly context: SpanContext;
  readonly deadlineNs: bigint;
}

function stringValues(value: AttrValue | undefined): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

export class SessionResolver {
  readonly config: ResolverConfig;
  readonly #traces = new Map<string, TraceEntry>();
  /** Insertion order is arrival order, hence deadline order: flushing pops from the front. */
  readonly #pending = new Map<string, Pending[]>();
  #pendingCount = 0;
  #conflicts = 0;

  constructor(config: Partial<ResolverConfig> = {}) {
    this.config = { ...DEFAULT_RESOLVER_CONFIG, ...config };
  }

  /** Spans of one trace that named two different sessions (explicit wins for each span). */
  get conflicts(): number {
    return this.#conflicts;
  }

  get pendingSpans(): number {
    return this.#pendingCount;
  }

  get tracesRemembered(): number {
    return this.#traces.size;
  }

  /** Explicit session (steps 1–3 and the baggage header), or the attribute that was invalid. */
  explicitSession(span: SpanRecord, ctx: SpanContext): Explicit | { invalid: string } | null {
    const candidates: [Attributes, string, SessionSource][] = [
      [span.attributes, SESSION_ID_ATTRIBUTE, 'span'],
      [span.resourceAttributes, SESSION_ID_ATTRIBUTE, 'resource'],
    ];
    for (const [attrs, key, source] of candidates) {
      const value = attrs.get(key);
      if (value === undefined) continue;
      if (typeof value !== 'string' || !isValidSessionId(value)) return { invalid: key };
      return { id: value, source, sourceKey: key };
    }
    for (const key of this.config.baggageAttributeKeys) {
      for (const raw of [
        ...stringValues(span.attributes.get(key)),
        ...stringValues(span.resourceAttributes.get(key)),
      ]) {
        const parsed = parseBaggage(raw);
        const id = parsed.ok ? baggageValue(parsed.value, SESSION_ID_ATTRIBUTE) : undefined;
        if (id === undefined) continue;
        if (!isValidSessionId(id)) return { invalid: key };
        return { id, source: 'baggage', sourceKey: key };
      }
    }
    for (const key of this.config.vendorKeys) {
      const value = span.attributes.get(key) ?? span.resourceAttributes.get(key);
      if (value === undefined) continue;
      if (typeof value !== 'string' || !isValidSessionId(value)) return { invalid: key };
      return { id: value, source: 'vendor', sourceKey: key };
    }
    if (ctx.headerSessionId !== undefined) {
      return { id: ctx.headerSessionId, source: 'header_baggage', sourceKey: 'baggage' };
    }
    return null;
  }

  resolve(span: SpanRecord, ctx: SpanContext): ResolveOutcome {
    const explicit = this.explicitSession(span, ctx);
    if (explicit !== null && 'invalid' in explicit) {
      return { kind: 'invalid_session_id', attribute: explicit.invalid };
    }
    if (explicit !== null) {
      const spans: ResolvedSpan[] = [
        {
          span,
          context: ctx,
          key: { namespace: ctx.namespace, id: explicit.id },
          source: explicit.source,
          sourceKey: explicit.sourceKey,
        },
      ];
      this.#remember(span.traceId, explicit.id, ctx.nowNs, spans);
      if (explicit.source === 'header_baggage' && ctx.headerTraceId !== undefined) {
        this.#remember(ctx.headerTraceId, explicit.id, ctx.nowNs, spans);
      }
      return { kind: 'resolved', spans };
    }
    const inherited = this.#lookup(span.traceId, ctx.nowNs);
    if (inherited !== undefined) {
      return { kind: 'resolved', spans: [this.#inherit(span, ctx, inherited, 'trace')] };
    }
    const viaHeader =
      ctx.headerTraceId === undefined ? undefined : this.#lookup(ctx.headerTraceId, ctx.nowNs);
    if (viaHeader !== undefined) {
      return {
        kind: 'resolved',
        spans: [this.#inherit(span, ctx, viaHeader, 'header_traceparent')],
      };
    }
    if (this.#pendingCount >= this.config.pendingCapacity) {
      return { kind: 'resolved', spans: [fallback(span, ctx)] };
    }
    const waiting = this.#pending.get(span.traceId);
    const entry = { span, context: ctx, deadlineNs: ctx.nowNs + this.config.pendingHoldNs };
    if (waiting === undefined) this.#pending.set(span.traceId, [entry]);
    else waiting.push(entry);
    this.#pendingCount++;
    return { kind: 'pending' };
  }

  /** Releases spans that waited past their deadline, resolved by the annotation or unattributed. */
  flush(nowNs: bigint, all = false): ResolvedSpan[] {
    const out: ResolvedSpan[] = [];
    for (const [traceId, waiting] of this.#pending) {
      const first = waiting[0] as Pending;
      if (!all && first.deadlineNs > nowNs) break;
      this.#pending.delete(traceId);
      this.#pendingCount -= waiting.length;
      for (const p of waiting) out.push(fallback(p.span, p.context));
    }
    return out;
  }

  #inherit(span: SpanRecord, ctx: SpanContext, id: string, source: SessionSource): ResolvedSpan {
    // The inheriting pod's namespace, never the one that named the session: a tenant's spans
    // can only ever divide its own pod's usage.
    return { span, context: ctx, key: { namespace: ctx.namespace, id }, source };
  }

  #lookup(traceId: string, nowNs: bigint): string | undefined {
    const entry = this.#traces.get(traceId);
    if (entry === undefined) return undefined;
    if (entry.expiresNs <= nowNs) {
      this.#traces.delete(traceId);
      return undefined;
    }
    // Re-insert: Map order doubles as the LRU order.
    this.#traces.delete(traceId);
    entry.expiresNs = nowNs + this.config.traceTtlNs;
    this.#traces.set(traceId, entry);
    return entry.id;
  }

  #remember(traceId: string, id: string, nowNs: bigint, released: ResolvedSpan[]): void {
    const known = this.#lookup(traceId, nowNs);
    if (known !== undefined) {
      // First session named wins for inheritance; the conflicting span keeps its own.
      if (known !== id) this.#conflicts++;
    } else {
      this.#traces.set(traceId, { id, expiresNs: nowNs + this.config.traceTtlNs });
      while (this.#traces.size > this.config.traceCapacity) {
        this.#traces.delete(this.#traces.keys().next().value as string);
      }
    }
    const waiting = this.#pending.get(traceId);
    if (waiting === undefined) return;
    this.#pending.delete(traceId);
    this.#pendingCount -= waiting.length;
    const inherited = known ?? id;
    for (const p of waiting) released.push(this.#inherit(p.span, p.context, inherited, 'trace'));
  }
}

function fallback(span: SpanRecord, ctx: SpanContext): ResolvedSpan {
  if (ctx.annotationSessionId !== undefined) {
    return {
      span,
      context: ctx,
      key: { namespace: ctx.namespace, id: ctx.annotationSessionId },
      source: 'annotation',
    };
  }
  return { span, context: ctx, key: null, source: 'none' };
}
