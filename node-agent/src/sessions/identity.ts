// Which pod sent a request: the connection's source address is what the node
// observes; a `k8s.pod.uid` resource attribute is only a claim and is checked against it.
import { isIP } from 'node:net';

export interface PodIdentity {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly podIPs: readonly string[];
  readonly hostNetwork: boolean;
  /** For the pod-scoped session annotation. */
  readonly annotations?: Readonly<Record<string, string>>;
}

/** Live pods of this node (no deletionTimestamp, not Succeeded/Failed), looked up by IP and UID. */
export interface PodDirectory {
  podsByIp(ip: string): readonly PodIdentity[];
  podByUid(uid: string): PodIdentity | undefined;
}

export type SourceIdentity =
  | { readonly kind: 'verified'; readonly pod: PodIdentity }
  | { readonly kind: 'ambiguous'; readonly candidates: readonly PodIdentity[] }
  | { readonly kind: 'unknown' };

/** `::ffff:10.0.0.1` (IPv4 on a dual-stack socket) → `10.0.0.1`. */
export function normaliseAddress(address: string): string {
  const lower = address.toLowerCase();
  if (lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4) return lower.slice(7);
  return lower;
}

export function identifySource(remoteAddress: string, pods: PodDirectory): SourceIdentity {
  // hostNetwork pods share the node's address, so an IP can never prove one of them.
  const candidates = pods
    .podsByIp(normaliseAddress(remoteAddress))
    .filter((pod) => !pod.hostNetwork);
  if (candidates.length === 1) return { kind: 'verified', pod: candidates[0] as PodIdentity };
  if (candidates.length > 1) return { kind: 'ambiguous', candidates };
  return { kind: 'unknown' };
}

export const POD_UID_ATTRIBUTE = 'k8s.pod.uid';

export type SpanIdentity =
  | { readonly ok: true; readonly pod: PodIdentity; readonly verified: boolean }
  | {
      readonly ok: false;
      readonly reason: 'spoofed_pod' | 'unknown_pod' | 'ambiguous_pod' | 'unverified';
    };

/**
 * The pod a span counts for. A claim contradicting a verified source is spoofing; without a
 * verified source a claim naming a live pod of this node is accepted as unverified (refused in
 * strict mode), since proxies and hostNetwork pods hide the real address.
 */
export function spanIdentity(
  source: SourceIdentity,
  claimedUid: string | undefined,
  pods: PodDirectory,
  strict: boolean,
): SpanIdentity {
  if (source.kind === 'verified') {
    if (claimedUid !== undefined && claimedUid !== source.pod.uid) {
      return { ok: false, reason: 'spoofed_pod' };
    }
    return { ok: true, pod: source.pod, verified: true };
  }
  if (claimedUid === undefined) {
    return { ok: false, reason: source.kind === 'ambiguous' ? 'ambiguous_pod' : 'unknown_pod' };
  }
  const claimed = pods.podByUid(claimedUid);
  if (claimed === undefined) return { ok: false, reason: 'unknown_pod' };
  if (source.kind === 'ambiguous' && !source.candidates.some((p) => p.uid === claimedUid)) {
    return { ok: false, reason: 'spoofed_pod' };
  }
  if (strict) return { ok: false, reason: 'unverified' };
  return { ok: true, pod: claimed, verified: false };
}
