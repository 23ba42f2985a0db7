export {
  callKeys,
  callsToWrite,
  isDuplicateCall,
  ledgerCalls,
  recordIdentity,
  seenFromLedger,
} from './call-dedup.ts';
export type { CallIdentity, CallsToWrite, SeenCallKeys } from './call-dedup.ts';
export { canonicalize } from './canonical.ts';
export { canonicalSplitFast } from './canonical-fast-path.ts';
export {
  decodeEntry,
  encodeEntry,
  hashEntry,
  sealEntry,
  sealEntryLine,
  verifyChain,
} from './chain.ts';
export type { BatchPosition, ChainFailureReason, ChainVerification, SealedEntry } from './chain.ts';
export { LedgerFormatError } from './errors.ts';
export type { LedgerFormatReason } from './errors.ts';
export { conservationViolation, parseEntry } from './parse.ts';
export {
  API_HOST_PATTERN,
  ARGS_HASH_PATTERN,
  CALL_WORD_PATTERN,
  SPAN_ID_PATTERN,
  TRACE_ID_PATTERN,
} from './parse-calls.ts';
export {
  FIELD_MAX_LENGTH,
  MAX_CALLS_PER_ENTRY,
  MAX_ENTRY_TAGS,
  TAG_NAME_PATTERN_SOURCE,
} from './limits.ts';
export { SEQ_PATTERN, parseSeq, positionToWire } from './position.ts';
export {
  CALL_KINDS,
  GENESIS_PREV,
  LEDGER_FORMAT_VERSION,
  MARKER_EVENTS,
  POD_QOS_CLASSES,
  UNPRICED_REASONS,
} from './types.ts';
export type {
  BatchRef,
  CallKind,
  CallRecord,
  CallTokens,
  CallTool,
  CallsBody,
  CallsEntry,
  ChainHead,
  CheckpointBody,
  CheckpointCgroup,
  CheckpointEntry,
  EntryEnvelope,
  EntryIdentity,
  EntryTags,
  GpuDeviceUsage,
  GpuModelUsage,
  LedgerBody,
  LedgerDraft,
  LedgerEntry,
  LedgerKind,
  LedgerPosition,
  MarkerBody,
  MarkerEntry,
  MarkerEvent,
  ModelTokens,
  NodeUsageBody,
  NodeUsageEntry,
  PodCost,
  PodQos,
  PodRef,
  PodUsageBody,
  PodUsageEntry,
  PolicyRef,
  SessionCost,
  SessionRef,
  SpanPodRef,
  TimeRange,
  TokenCost,
  TokensBody,
  TokensEntry,
  UnpricedReason,
  UsageShare,
  WireLedgerPosition,
  WorkloadRef,
} from './types.ts';
export {
  OPTIONAL_USAGE_KEYS,
  REQUIRED_USAGE_KEYS,
  USAGE_KEYS,
  addUsageInto,
  addUsage,
  sumUsage,
  usageEquals,
  usageFromWire,
  usageToWire,
  zeroUsage,
} from './usage.ts';
export type { MutableUsage, Usage, UsageKey, WireUsage } from './usage.ts';
