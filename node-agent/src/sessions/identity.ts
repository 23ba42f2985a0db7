// Which pod sent a request: the connection's source address is what the node
// observes; a `k8s.pod.uid` resource attribute is only a claim and is checked against it.
import { BlockList, isIP } from 'node:net';

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

export function identifySource(
  remoteAddress: string,
  pods: Pick<PodDirectory, 'podsByIp'>,
): SourceIdentity {
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
      readonly reason: 'spoofed_pod' | 'unknown_pod' | 'ambiguous_pod' | 'untrusted_source';
    };

/** Why a span was refused, for the OTLP partial-success message the sender's exporter logs. */
export const IDENTITY_REFUSALS: Readonly<Record<string, string>> = {
  spoofed_pod: 'k8s.pod.uid names another pod than the one that sent it',
  unknown_pod: 'the sender is not a live pod of this node and names none',
  ambiguous_pod: 'the sender address belongs to several pods and names none of them',
  untrusted_source:
    'the sender is not a live pod of this node nor a proxy the cluster admin trusts, so its k8s.pod.uid cannot be believed',
};

/**
 * The pod a span counts for. A verified source is the pod; a claim contradicting it is
 * spoofing. Without a verified source a claim naming a live pod of this node is believed only
 * from a proxy the admin listed as trusted (`trustedSource`), and is then unverified.
 */
export function spanIdentity(
  source: SourceIdentity,
  claimedUid: string | undefined,
  pods: PodDirectory,
  trustedSource: boolean,
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
  if (source.kind === 'ambiguous') {
    // Pods sharing the sender's address: the sender is one of them, the claim picks which.
    const pod = source.candidates.find((p) => p.uid === claimedUid);
    return pod === undefined
      ? { ok: false, reason: 'spoofed_pod' }
      : { ok: true, pod, verified: false };
  }
  if (!trustedSource) return { ok: false, reason: 'untrusted_source' };
  const claimed = pods.podByUid(claimedUid);
  if (claimed === undefined) return { ok: false, reason: 'unknown_pod' };
  return { ok: true, pod: claimed, verified: false };
}

/** A test of source addresses against the admin's trusted CIDRs (node:net's BlockList). */
export function trustedSources(
  cidrs: readonly { address: string; prefix: number; family: 'ipv4' | 'ipv6' }[],
): (remoteAddress: string) => boolean {
  if (cidrs.length === 0) return () => false;
  const list = new BlockList();
  for (const c of cidrs) list.addSubnet(c.address, c.prefix, c.family);
  return (remoteAddress) => {
    const address = normaliseAddress(remoteAddress);
    const family = isIP(address);
    return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
  };
}
