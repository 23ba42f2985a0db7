// The SpanSink that joins received spans to pods and sessions: the sending pod (identity.ts),
// the call the span describes (claimed once, calls/), the session (resolve.ts), then activity
// for the split and the call for the tick's calls entry.
import {
  CallCollector,
  CallDedupe,
  extractCall,
  spanTagValues,
  type ApiHostMatcher,
  type ArgsHashProblem,
  type CallDraft,
  type CallPod,
  type TokenCountProblem,
} from '../calls/index.ts';
import type { SpanTag } from '@agentmeter/crds';
import { SinkOverloadedError } from '../otlp/receiver.ts';
import type { SinkResult, SpanSink, SpanSource } from '../otlp/receiver.ts';
import { runSteps, STEP_SPANS } from '../otlp/steps.ts';
import type { SpanRecord, SpanRejectReason } from '../otlp/types.ts';
import { IDENTITY_REFUSALS, identifySource, POD_UID_ATTRIBUTE, spanIdentity } from './identity.ts';
import type { PodDirectory, PodIdentity } from './identity.ts';
import type { ResolvedSpan, SpanContext } from './resolve.ts';
import { SessionResolver } from './resolve.ts';
import { sessionFromAnnotations, sessionKeyString } from './session-id.ts';
import type { SessionKeyString } from './session-id.ts';
import type { Settlement } from './settlement.ts';
import type { UsageVector } from './split.ts';
import { baggageValue, parseBaggage, parseTraceparent } from './w3c.ts';
import { isValidSessionId } from './session-id.ts';

/** Calls of spans without a session, per namespace: `ns/` is never a valid session key. */
export function unattributedKeyString(namespace: string): SessionKeyString {
  return `${namespace}/`;
}

export interface IngestCounters {
  accepted: number;
  rejected: Map<SpanRejectReason, number>;
  unverified: number;
  /** Spans naming another session than their exclusive pod's annotation. */
  exclusiveConflicts: number;
  /** Calls whose span (or tool call id) was already counted: retries and duplicates. */
  duplicateCalls: number;
  /** Tool spans whose argument hash or arguments were unusable; the call is kept, unhashed. */
  argsHashIgnored: Map<ArgsHashProblem, number>;
  badHeaders: number;
}

/** Counters of an ingest that has seen nothing yet. */
export function zeroIngestCounters(): IngestCounters {
  return {
    accepted: 0,
    rejected: new Map(),
    unverified: 0,
    exclusiveConflicts: 0,
    duplicateCalls: 0,
    argsHashIgnored: new Map(),
    badHeaders: 0,
  };
}

/** How long the dedupe set remembers a call, by its end time (see calls/dedupe.ts), when the
 * caller gives no set; the agent passes its own, sized by --call-dedupe-window. */
const DEFAULT_CALL_DEDUPE_WINDOW_NS = 30n * 60n * 1_000_000_000n;

const TOKEN_REJECTIONS: Readonly<Record<TokenCountProblem, SpanRejectReason>> = {
  negative: 'token_count_negative',
  fractional: 'token_count_fractional',
  not_a_number: 'token_count_not_a_number',
  too_large: 'token_count_too_large',
};

/** What the exporter is told, besides the count, for refusals that are not about identity. */
const CALL_REFUSALS: Readonly<Record<string, string>> = {
  token_count_negative: 'a gen_ai.usage count is below zero',
  token_count_fractional: 'a gen_ai.usage count is not a whole number',
  token_count_not_a_number: 'a gen_ai.usage count is not a number',
  token_count_too_large: 'a gen_ai.usage count is over 10^12',
  stale_call:
    'the call ended before the dedupe window, so it cannot be counted exactly once; export sooner',
};

export interface SessionIngestOptions<U extends UsageVector<U>> {
  readonly pods: PodDirectory;
  readonly settlement: Settlement<U>;
  readonly calls?: CallCollector;
  readonly dedupe?: CallDedupe;
  /** Hosts the policy of a pod prices: its HTTP client spans to them are API calls. */
  readonly apiHosts?: (podUid: string) => ApiHostMatcher;
  /** The span-attribute allocation tags of a pod's policy, recorded with each of its calls. */
  readonly spanTags?: (podUid: string) => readonly SpanTag[];
  readonly resolver?: SessionResolver;
  readonly clock: () => bigint;
  /** Sources (proxies the admin trusts) whose `k8s.pod.uid` claims are believed; none by default. */
  readonly trustedSource?: (remoteAddress: string) => boolean;
}

const NO_API_HOSTS: ApiHostMatcher = () => null;

export class SessionIngest<U extends UsageVector<U>> implements SpanSink {
  readonly pods: PodDirectory;
  readonly settlement: Settlement<U>;
  readonly calls: CallCollector;
  readonly dedupe: CallDedupe;
  readonly resolver: SessionResolver;
  readonly trustedSource: (remoteAddress: string) => boolean;
  readonly counters: IngestCounters = zeroIngestCounters();
  readonly #clock: () => bigint;
  readonly #apiHosts: (podUid: string) => ApiHostMatcher;
  readonly #spanTags: (podUid: string) => readonly SpanTag[];
  /** Claimed calls of spans still waiting for their session. */
  readonly #drafts = new WeakMap<SpanRecord, { call: CallDraft; pod: CallPod }>();

  constructor(options: SessionIngestOptions<U>) {
    this.pods = options.pods;
    this.settlement = options.settlement;
    this.calls = options.calls ?? new CallCollector();
    this.dedupe = options.dedupe ?? new CallDedupe({ windowNs: DEFAULT_CALL_DEDUPE_WINDOW_NS });
    this.#apiHosts = options.apiHosts ?? (() => NO_API_HOSTS);
    this.#spanTags = options.spanTags ?? (() => []);
    this.resolver = options.resolver ?? new SessionResolver();
    this.trustedSource = options.trustedSource ?? (() => false);
    this.#clock = options.clock;
  }

  accept(source: SpanSource, spans: SpanRecord[]): SinkResult {
    return runSteps(this.acceptSteps(source, spans));
  }

  /** {@link accept} in steps of STEP_SPANS spans for the receiver's turns. A tick may run
   * between two steps, as between two requests: each span is taken whole within one step. */
  *acceptSteps(source: SpanSource, spans: SpanRecord[]): Generator<void, SinkResult, void> {
    // Nothing of the request is claimed yet, so the exporter's retry loses nothing.
    if (this.calls.full) throw new SinkOverloadedError('too many calls waiting for the next tick');
    const nowNs = this.#clock();
    const identity = identifySource(source.remoteAddress, this.pods);
    const trusted = identity.kind !== 'verified' && this.trustedSource(source.remoteAddress);
    const headers = this.#headerContext(source);
    const rejected = new Map<SpanRejectReason, number>();
    const reject = (reason: SpanRejectReason) =>
      rejected.set(reason, (rejected.get(reason) ?? 0) + 1);
    for (const [i, span] of spans.entries()) {
      if (i > 0 && i % STEP_SPANS === 0) yield;
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
      // Refused for its call before the resolver sees it, so a refused span leaves no trace.
      const read = this.#readCall(span, who.pod.uid, nowNs);
      if (typeof read === 'string') {
        reject(read);
        continue;
      }
      const outcome = this.resolver.resolve(span, ctx);
      if (outcome.kind === 'invalid_session_id') {
        reject('invalid_session_id');
        continue;
      }
      if (read !== null) this.#claim(span, read, who.pod, nowNs);
      this.counters.accepted++;
      if (outcome.kind === 'resolved') for (const r of outcome.spans) this.#deliver(r);
    }
    const reasons: string[] = [];
    for (const [reason, n] of rejected) {
      this.counters.rejected.set(reason, (this.counters.rejected.get(reason) ?? 0) + n);
      const why = IDENTITY_REFUSALS[reason] ?? CALL_REFUSALS[reason];
      reasons.push(why === undefined ? `${reason}: ${n}` : `${reason}: ${n}, ${why}`);
    }
    let total = 0;
    for (const n of rejected.values()) total += n;
    return { rejected: total, reasons };
  }

  /** The span's call, null when it is none, or why the span is refused. */
  #readCall(span: SpanRecord, podUid: string, nowNs: bigint): CallDraft | null | SpanRejectReason {
    // Only HTTP client spans ask which hosts the pod's policy prices.
    const extracted = extractCall(span, (host) => this.#apiHosts(podUid)(host));
    if (extracted.kind === 'none') return null;
    if (extracted.kind === 'invalid') return TOKEN_REJECTIONS[extracted.problem];
    if (extracted.call.endNs < nowNs - this.dedupe.windowNs) return 'stale_call';
    const ignored = extracted.argsHashProblem;
    if (ignored !== undefined) {
      const counts = this.counters.argsHashIgnored;
      counts.set(ignored, (counts.get(ignored) ?? 0) + 1);
    }
    const spanTags = spanTagValues(span, this.#spanTags(podUid));
    return spanTags === undefined ? extracted.call : { ...extracted.call, spanTags };
  }

  /** Counts the call once: a retry or duplicate of a claimed call is dropped here. */
  #claim(span: SpanRecord, call: CallDraft, pod: PodIdentity, nowNs: bigint): void {
    const claim = this.dedupe.claim(
      {
        namespace: pod.namespace,
        traceId: call.traceId,
        spanId: call.spanId,
        callId: call.tool?.callId ?? null,
        endNs: call.endNs,
      },
      nowNs,
    );
    const from = { uid: pod.uid, namespace: pod.namespace, name: pod.name };
    if (claim === 'new') this.#drafts.set(span, { call, pod: from });
    else this.counters.duplicateCalls++;
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
    const claimed = this.#drafts.get(span);
    if (claimed !== undefined) {
      this.#drafts.delete(span);
      this.calls.add(claimed.pod, key, claimed.call);
    }
  }
}
