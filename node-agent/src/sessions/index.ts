export { clipIntervals, PodActivity, totalLength, unionIntervals } from './activity.ts';
export type { Interval } from './activity.ts';
export {
  identifySource,
  normaliseAddress,
  POD_UID_ATTRIBUTE,
  spanIdentity,
  trustedSources,
} from './identity.ts';
export type { PodDirectory, PodIdentity, SourceIdentity, SpanIdentity } from './identity.ts';
export { SessionIngest, unattributedKeyString } from './ingest.ts';
export type { IngestCounters, SessionIngestOptions } from './ingest.ts';
export { DEFAULT_RESOLVER_CONFIG, SESSION_ID_ATTRIBUTE, SessionResolver } from './resolve.ts';
export type {
  ResolvedSpan,
  ResolveOutcome,
  ResolverConfig,
  SessionSource,
  SpanContext,
} from './resolve.ts';
export {
  compareKeyStrings,
  isValidSessionId,
  parseSessionId,
  parseSessionKeyString,
  SESSION_ANNOTATION,
  SESSION_ANNOTATION_ALIAS,
  SESSION_ID_MAX_LENGTH,
  SessionIdError,
  sessionFromAnnotations,
  sessionKeyString,
} from './session-id.ts';
export type {
  AnnotationSession,
  SessionIdErrorReason,
  SessionKey,
  SessionKeyString,
} from './session-id.ts';
export { DEFAULT_WATERMARK_TICKS, exclusiveSegments, Settlement } from './settlement.ts';
export type { AnnotationObservation, PodTick, SettledSplit, SpanTiming } from './settlement.ts';
export { apportion, sessionWeights, SplitError, splitTick } from './split.ts';
export type {
  ExclusiveSegment,
  SessionWeights,
  SplitErrorReason,
  SplitInput,
  SplitResult,
  TickWindow,
  UsageVector,
} from './split.ts';
export {
  BAGGAGE_MAX_BYTES,
  BAGGAGE_MAX_MEMBERS,
  BaggageError,
  baggageValue,
  parseBaggage,
  parseTraceparent,
  TRACE_FLAG_RANDOM_TRACE_ID,
  TRACE_FLAG_SAMPLED,
  TRACEPARENT_MAX_LENGTH,
  TraceparentError,
} from './w3c.ts';
export type {
  BaggageErrorReason,
  BaggageMember,
  BaggageProperty,
  Traceparent,
  TraceparentErrorReason,
  W3CResult,
} from './w3c.ts';
