/**
 * The longest string, in UTF-16 units, each ledger field may hold. One table for the reader
 * (parseEntry refuses a longer one) and the writer's one-pass sealer (which hands a longer one
 * to the generic path, where parseEntry names the error), so the two cannot drift apart.
 */
export const FIELD_MAX_LENGTH = {
  /** A node name: a DNS subdomain. */
  node: 253,
  agentId: 128,
  bootId: 128,
  tick: 64,
  podUid: 128,
  /** Namespace, pod, policy and workload names. */
  name: 253,
  sessionId: 256,
  /** Workload kinds. */
  kind: 253,
  /** GPU models and devices. */
  gpuModel: 256,
  cgroupKey: 4096,
  markerDetail: 4096,
  /** Call records: gen_ai.operation.name, gen_ai.provider.name, model names. */
  callOperation: 64,
  callProvider: 128,
  callModel: 256,
  /** Tool name and gen_ai.tool.call.id. */
  toolName: 256,
  toolType: 64,
  toolCallId: 256,
  /** A DNS name. */
  apiHost: 253,
  errorType: 256,
  /** A rate key: a model, '*', a tool name or a host pattern (`*.` + a DNS name). */
  callRate: 256,
  /** Allocation tags (CostPolicy spec.allocation.tags): a name, and the value recorded. */
  tagName: 63,
  tagValue: 256,
  /** Any other string: flags among them. */
  default: 1024,
  currency: 3,
} as const;

/**
 * The most call records one `calls` entry may hold: keeps one ledger line (about 600 bytes a
 * call) within a few MiB. A writer with more calls for one (tick, pod, session) writes several
 * entries.
 */
export const MAX_CALLS_PER_ENTRY = 4096;

/** The most allocation tags one entry may carry (CostPolicy spec.allocation.tags' bound). */
export const MAX_ENTRY_TAGS = 16;

/** An allocation tag's name, as the CostPolicy CRD checks it: it starts with a letter, because
 * canonical JSON refuses integer-like member names (their order in an object is not insertion). */
export const TAG_NAME_PATTERN_SOURCE = '^[a-z]([-_.a-z0-9]*[a-z0-9])?$';
