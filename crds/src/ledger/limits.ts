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
  /** Any other string: flags among them. */
  default: 1024,
  currency: 3,
} as const;
