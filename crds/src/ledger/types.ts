import type { WireUsage } from './usage.ts';

/**
 * Ledger entry format v1. One entry is one line of canonical JSON (see canonical.ts). Every
 * integer is a decimal string — counters and nano-money exceed 2^53 — except the version `v`.
 * These types are that edge format; code reads a seq with BigInt(entry.seq).
 * Times are unix nanoseconds as decimal strings: exact, sortable and free of time-zone parsing.
 */
export const LEDGER_FORMAT_VERSION = 1;

/** `prev` of the first entry of a chain. */
export const GENESIS_PREV = '0'.repeat(64);

/** [start, end] of what an entry measures, unix ns; start ≤ end. Markers use start = end. */
export interface TimeRange {
  readonly start: string;
  readonly end: string;
}

/**
 * The append batch an entry was written in: seq of its first entry and its entry count. A tick
 * is one batch written with one write + fsync; readers recognise a partial batch (a torn write)
 * because entry `first + size - 1` is missing.
 */
export interface BatchRef {
  readonly first: string;
  readonly size: string;
}

/** Who wrote the entry: the node, this agent process instance, and the node's kernel boot id. */
export interface EntryIdentity {
  readonly node: string;
  readonly agentId: string;
  readonly bootId?: string;
}

export interface EntryEnvelope extends EntryIdentity {
  readonly v: typeof LEDGER_FORMAT_VERSION;
  /** 1, 2, 3, … without gaps for the life of the ledger. */
  readonly seq: string;
  /** `hash` of the entry with seq - 1, or GENESIS_PREV for seq 1. */
  readonly prev: string;
  readonly batch: BatchRef;
  /** sha256 hex of the canonical JSON of the entry without `hash`. */
  readonly hash: string;
}

/** Sessions are keyed by (namespace, id) so one tenant cannot charge another. */
export interface SessionRef {
  readonly namespace: string;
  readonly id: string;
}

export const POD_QOS_CLASSES = ['Guaranteed', 'Burstable', 'BestEffort'] as const;
export type PodQos = (typeof POD_QOS_CLASSES)[number];

export interface WorkloadRef {
  readonly kind: string;
  readonly name: string;
}

export interface PodRef {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly qos: PodQos;
  readonly workload?: WorkloadRef;
}

/** A session's part of a pod's tick usage; `session: null` is the unattributed remainder. */
export interface UsageShare {
  readonly session: SessionRef | null;
  readonly usage: WireUsage;
}

/** The CostPolicy (name and generation) in force when the usage was measured (invariant 5). */
export interface PolicyRef {
  readonly name: string;
  readonly generation: string;
}

export interface SessionCost {
  readonly session: SessionRef | null;
  readonly totalNano: string;
}

export interface PodCost {
  /** ISO 4217 code. */
  readonly currency: string;
  readonly policy: PolicyRef;
  /** Integer nano-units of `currency`. */
  readonly totalNano: string;
  /** Same sessions as `shares`; sums to totalNano. */
  readonly bySession: readonly SessionCost[];
}

interface BodyBase {
  readonly time: TimeRange;
}

/**
 * Allocation tag name → value, as the agent read them when it measured the entry (the pricing
 * policy's spec.allocation.tags). A tag without a value at the time is left out, and so is the
 * whole member when no tag has one (and in entries written before agents recorded tags).
 */
export type EntryTags = Readonly<Record<string, string>>;

/** GPU time on one device model (or MIG profile), so CostPolicy per-model rates can price it. */
export interface GpuModelUsage {
  readonly model: string;
  /** Allocation basis: device time held, microseconds. */
  readonly allocatedUs: string;
  /** Utilisation basis: device time active, microseconds. */
  readonly activeUs: string;
}

/** GPU time on a device that no pod on the node can be charged for. */
export interface GpuDeviceUsage extends GpuModelUsage {
  /** GPU UUID, or `uuid/gi<N>` for a MIG instance. */
  readonly device: string;
}

/** One pod's usage over one tick. */
export interface PodUsageBody extends BodyBase {
  readonly kind: 'pod-usage';
  /** Tick id: the same string on every entry of one tick. */
  readonly tick: string;
  readonly pod: PodRef;
  readonly usage: WireUsage;
  /** Sums to `usage` exactly (invariant 1). Before sessions exist: one share, session null. */
  readonly shares: readonly UsageShare[];
  /** null when the pod is not priced (no policy selects it, or pricing is not yet enabled). */
  readonly cost: PodCost | null;
  /** Equals `cost !== null`; explicit so an unpriced entry is never mistaken for a free one. */
  readonly priced: boolean;
  /** Measurement notes such as `first-sample` or `counter-reset`; lower-case kebab words. */
  readonly flags: readonly string[];
  /** Per-model split of `usage.gpuAllocatedUs`/`gpuActiveUs`; present on GPU pods only. */
  readonly gpu?: readonly GpuModelUsage[];
  /** The namespace- and pod-label tags of the pricing policy. */
  readonly tags?: EntryTags;
}

/** The node over one tick, so node conservation is checkable from the ledger alone. */
export interface NodeUsageBody extends BodyBase {
  readonly kind: 'node-usage';
  readonly tick: string;
  readonly nodeTotal: WireUsage;
  /** Sum of this tick's pod-usage entries. */
  readonly pods: WireUsage;
  /** nodeTotal - pods. */
  readonly nonPod: WireUsage;
  /** Number of pod-usage entries in this tick. */
  readonly podEntries: string;
  /** Device time no pod holds or used; device totals = Σ pods' gpu + this, exactly. */
  readonly gpuUnattributed?: readonly GpuDeviceUsage[];
}

export interface ModelTokens {
  readonly model: string;
  readonly inputTokens: string;
  readonly outputTokens: string;
}

export interface TokenCost {
  readonly currency: string;
  readonly policy: PolicyRef;
  readonly totalNano: string;
}

/** The pod spans came from. */
export interface SpanPodRef {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
}

/** Tokens one session (or the pod's unattributed spans) used in one tick, per model. */
export interface TokensBody extends BodyBase {
  readonly kind: 'tokens';
  readonly tick: string;
  /** null: tokens of spans without a session, still charged to the pod's namespace. */
  readonly session: SessionRef | null;
  readonly pod: SpanPodRef;
  readonly models: readonly ModelTokens[];
  readonly cost: TokenCost | null;
  readonly priced: boolean;
  readonly tags?: EntryTags;
}

/** What a leaf call is: a model (LLM) call, a tool call, or a priced external API call. */
export const CALL_KINDS = ['model', 'tool', 'api'] as const;
export type CallKind = (typeof CALL_KINDS)[number];

/** Token counts of one model call, decimal strings; every field present ("0" when absent). */
export interface CallTokens {
  /** Includes cached tokens (OTel GenAI semantic conventions). */
  readonly input: string;
  /** Includes reasoning tokens. */
  readonly output: string;
  readonly cacheRead: string;
  readonly cacheCreation: string;
  readonly reasoning: string;
}

export interface CallTool {
  readonly name: string;
  readonly type: string | null;
  /** gen_ai.tool.call.id, when the span carries one. */
  readonly callId: string | null;
  /** 64 hex: sha256 of gen_ai.tool.call.arguments (hashed by the agent; the arguments are never
   * stored), or the span's `agentmeter.tool.arguments_hash` attribute if the app sends a hash
   * itself; else null (or absent, in entries written before agents hashed arguments). The
   * repeated-tool-call guard keys on (tool name, argsHash). */
  readonly argsHash?: string | null;
}

/** Why a call has no cost; a call is never silently free. */
export const UNPRICED_REASONS = [
  'no-policy',
  'no-model-rate',
  'no-tool-rate',
  'no-api-rate',
] as const;
export type UnpricedReason = (typeof UNPRICED_REASONS)[number];

/** One leaf call (never a wrapper span such as invoke_agent), without prompt or response text. */
export interface CallRecord {
  /** 32 lower-case hex digits. */
  readonly traceId: string;
  /** 16 lower-case hex digits. */
  readonly spanId: string;
  readonly parentSpanId: string | null;
  /** Unix ns. */
  readonly start: string;
  readonly end: string;
  readonly kind: CallKind;
  /** gen_ai.operation.name, 'tools/call' (MCP) or 'http' (API). */
  readonly operation: string;
  readonly provider: string | null;
  readonly model: string | null;
  readonly tool: CallTool | null;
  /** Host only: no scheme, port, path, query or credentials. */
  readonly apiHost: string | null;
  /** Model calls only. */
  readonly tokens: CallTokens | null;
  readonly errorType: string | null;
  /** Integer nano-units of the entry's currency; null = unpriced (see `unpriced`). */
  readonly costNano: string | null;
  /** The rate key that priced it: the model, '*', the tool name or the host pattern. */
  readonly rate: string | null;
  readonly unpriced: UnpricedReason | null;
}

/**
 * One tick's new leaf calls of one pod and session (or of the pod's spans without a session),
 * so the envelope is shared by many calls.
 */
export interface CallsBody extends BodyBase {
  readonly kind: 'calls';
  readonly tick: string;
  /** null: calls of spans without a session, still charged to the pod's namespace. */
  readonly session: SessionRef | null;
  readonly pod: SpanPodRef;
  readonly calls: readonly CallRecord[];
  /** totalNano = Σ costNano of the priced calls; null when no policy priced the calls. */
  readonly cost: TokenCost | null;
  readonly priced: boolean;
  /** The pricing policy's tags; span-attribute tags are the same for every call of the entry. */
  readonly tags?: EntryTags;
}

/** Cumulative counters of one cgroup (or of the node itself, podUid null) as last read. */
export interface CheckpointCgroup {
  /** Cgroup identity: pod uid plus cgroup inode, so a recreated cgroup is a new key. */
  readonly key: string;
  readonly podUid: string | null;
  /** Counter name → cumulative value as last read, decimal strings. */
  readonly counters: Readonly<Record<string, string>>;
}

/**
 * The counter baseline after a tick. Written as the last entry of the tick's batch, so the
 * baseline and the usage it produced are durable together or not at all (invariant 3).
 */
export interface CheckpointBody extends BodyBase {
  readonly kind: 'checkpoint';
  readonly tick: string;
  readonly cgroups: readonly CheckpointCgroup[];
}

export const MARKER_EVENTS = [
  'agent-start',
  'torn-tail-repaired',
  'counter-reset',
  'gap',
  'unacked-dropped',
] as const;
export type MarkerEvent = (typeof MARKER_EVENTS)[number];

/** An auditable event of the ledger or the agent itself; carries no usage. */
export interface MarkerBody extends BodyBase {
  readonly kind: 'marker';
  readonly event: MarkerEvent;
  readonly detail: Readonly<Record<string, string>>;
}

export type LedgerBody =
  PodUsageBody | NodeUsageBody | TokensBody | CallsBody | CheckpointBody | MarkerBody;
export type LedgerKind = LedgerBody['kind'];

/** What a writer hands to sealEntry: everything but v, seq, prev, batch and hash. */
export type LedgerDraft = EntryIdentity & LedgerBody;

export type PodUsageEntry = EntryEnvelope & PodUsageBody;
export type NodeUsageEntry = EntryEnvelope & NodeUsageBody;
export type TokensEntry = EntryEnvelope & TokensBody;
export type CallsEntry = EntryEnvelope & CallsBody;
export type CheckpointEntry = EntryEnvelope & CheckpointBody;
export type MarkerEntry = EntryEnvelope & MarkerBody;
export type LedgerEntry =
  PodUsageEntry | NodeUsageEntry | TokensEntry | CallsEntry | CheckpointEntry | MarkerEntry;

/** The last entry of a verified chain (or seq 0 / GENESIS_PREV for an empty one). */
export interface ChainHead {
  readonly seq: bigint;
  readonly hash: string;
}

/** A chain head of one node agent's ledger, e.g. where a policy has counted up to. */
export interface LedgerPosition extends ChainHead {
  readonly node: string;
}

/** A LedgerPosition at the edge (CostReport chain heads): the seq as a decimal string. */
export interface WireLedgerPosition {
  node: string;
  seq: string;
  /** Hex SHA-256 of the entry. */
  hash: string;
}
