// The SpanSink that joins received spans to pods and sessions: the sending pod (identity.ts),
// the session (resolve.ts), then activity for the split and token counts.
import type { SinkResult, SpanSink, SpanSource } from '../otlp/receiver.ts';
import type { SpanRecord, SpanRejectReason } from '../otlp/types.ts';
import { IDENTITY_REFUSALS, identifySource, POD_UID_ATTRIBUTE, spanIdentity } from './identity.ts';
import type { PodDirectory } from './identity.ts';
import type { ResolvedSpan, SpanContext } from './resolve.ts';
import { SessionResolver } from './resolve.ts';
import { sessionFromAnnotations, sessionKeyString } from './session-id.ts';
import type { SessionKeyString } from './session-id.ts';
import type { Settlement } from './settlement.ts';
import type { UsageVector } from './split.ts';
import { extractTokenUsage, TokenCounter } from './tokens.ts';
import { baggageValue, parseBaggage, parseTraceparent } from './w3c.ts';
import { isValidSessionId } from './session-id.ts';

/** Tokens of spans without a session, per namespace: `ns/` is never a valid session key. */
export function unattributedKeyString(namespace: string): SessionKeyString {
  return `${namespace}/`;
}

export interface IngestCounters {
  accepted: number;
  rejected: Map<SpanRejectReason, number>;
  unverified: number;
  /** Spans naming another session than their exclusive pod's annotation. */
  exclusiveConflicts: number;
  invalidTokenUsage: number;
  badHeaders: number;
}

export interface SessionIngestOptions<U extends UsageVector<U>> {
  readonly pods: PodDirectory;
  readonly settlement: Settlement<U>;
  readonly tokens?: TokenCounter;
  readonly resolver?: SessionResolver;
  readonly clock: () => bigint;
  /** Sources (proxies the admin trusts) whose `k8s.pod.uid` claims are believed; none by default. */
  readonly trustedSource?: (remoteAddress: string) => boolean;
  /** Key under which tokens are counted; the agent includes the pod so its entry names it. */
  readonly tokenKey?: (podUid: string, sessionKey: SessionKeyString) => string;
}

export class SessionIngest<U extends UsageVector<U>> implements SpanSink {
  readonly pods: PodDirectory;
  readonly settlement: Settlement<U>;
  readonly tokens: TokenCounter;
  readonly resolver: SessionResolver;
  readonly trustedSource: (remoteAddress: string) => boolean;
  readonly counters: IngestCounters = {
    accepted: 0,
    rejected: new Map(),
    unverified: 0,
    exclusiveConflicts: 0,
    invalidTokenUsage: 0,
    badHeaders: 0,
  };
  readonly #clock: () => bigint;
  readonly #tokenKey: (podUid: string, sessionKey: SessionKeyString) => string;

  constructor(options: SessionIngestOptions<U>) {
    this.#tokenKey = options.tokenKey ?? ((_pod, key) => key);
    this.pods = options.pods;
    this.settlement = options.settlement;
    this.tokens = options.tokens ?? new TokenCounter();
    this.resolver = options.resolver ?? new SessionResolver();
    this.trustedSource = options.trustedSource ?? (() => false);
    this.#clock = options.clock;
  }

  accept(source: SpanSource, spans: SpanRecord[]): SinkResult {
    const nowNs = this.#clock();
    const identity = identifySource(source.remoteAddress, this.pods);
    const trusted = identity.kind !== 'verified' && this.trustedSource(source.remoteAddress);
    const headers = this.#headerContext(source);
    const rejected = new Map<SpanRejectReason, number>();
    const reject = (reason: SpanRejectReason) =>
      rejected.set(reason, (rejected.get(reason) ?? 0) + 1);
    for (const span of spans) {
      const claim = span.resourceAttributes.get(POD_UID_ATTRIBUTE);
      const who = spanIdentity(
        identity,
        typeof claim === 'string' ? claim : undefined,
        this.pods,
        trusted,
      );
      if (!who.ok) {
        reject(who.reason);
        continue;
      }
      if (!who.verified) this.counters.unverified++;
      const annotation = sessionFromAnnotations(who.pod.annotations);
      const ctx: SpanContext = {
        podUid: who.pod.uid,
        namespace: who.pod.namespace,
        verified: who.verified,
        nowNs,
        ...headers,
        ...(annotation.kind === 'session' ? { annotationSessionId: annotation.id } : {}),
      };
      const outcome = this.resolver.resolve(span, ctx);
      if (outcome.kind === 'invalid_session_id') {
        reject('invalid_session_id');
        continue;
      }
      this.counters.accepted++;
      if (outcome.kind === 'resolved') for (const r of outcome.spans) this.#deliver(r);
    }
    const reasons: string[] = [];
    for (const [reason, n] of rejected) {
      this.counters.rejected.set(reason, (this.counters.rejected.get(reason) ?? 0) + n);
      const why = IDENTITY_REFUSALS[reason];
      reasons.push(why === undefined ? `${reason}: ${n}` : `${reason}: ${n}, ${why}`);
    }
    let total = 0;
    for (const n of rejected.values()) total += n;
    return { rejected: total, reasons };
  }

  /** Releases spans whose trace never named a session; call once per tick before settling. */
  flush(all = false): void {
    for (const r of this.resolver.flush(this.#clock(), all)) this.#deliver(r);
  }

  #headerContext(source: SpanSource): { headerSessionId?: string; headerTraceId?: string } {
    const out: { headerSessionId?: string; headerTraceId?: string } = {};
    if (source.headers.traceparent !== undefined) {
      const tp = parseTraceparent(source.headers.traceparent);
      if (tp.ok) out.headerTraceId = tp.value.traceId;
      else this.counters.badHeaders++;
    }
    if (source.headers.baggage !== undefined) {
      const bg = parseBaggage(source.headers.baggage);
      const id = bg.ok ? baggageValue(bg.value, 'session.id') : undefined;
      if (!bg.ok) this.counters.badHeaders++;
      else if (id !== undefined && isValidSessionId(id)) out.headerSessionId = id;
      else if (id !== undefined) this.counters.badHeaders++;
    }
    return out;
  }

  #deliver(r: ResolvedSpan): void {
    const { span, context } = r;
    const key = r.key === null ? unattributedKeyString(context.namespace) : sessionKeyString(r.key);
    if (r.key !== null) {
      if (
        context.annotationSessionId !== undefined &&
        r.source !== 'annotation' &&
        r.key.id !== context.annotationSessionId
      ) {
        this.counters.exclusiveConflicts++;
      }
      this.settlement.recordSpan(context.podUid, key, span.startNs, span.endNs);
    }
    const tokens = extractTokenUsage(span.attributes);
    if (tokens.kind === 'usage') this.tokens.add(this.#tokenKey(context.podUid, key), tokens.usage);
    else if (tokens.kind === 'invalid') this.counters.invalidTokenUsage++;
  }
}
