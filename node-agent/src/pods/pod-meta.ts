// The agent's plain-data view of a pod. Pods reach this module both as typed client objects
// (timestamps as Date) and as raw watch JSON (timestamps as strings); both convert the same.
import type { V1Pod } from '@kubernetes/client-node';

export const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';
export const CONFIG_HASH_ANNOTATION = 'kubernetes.io/config.hash';
export const SESSION_ID_ANNOTATION = 'resource.opentelemetry.io/session.id';
const AGENTMETER_PREFIX = 'agentmeter.dev/';
const KEPT_ANNOTATIONS = new Set([
  SESSION_ID_ANNOTATION,
  MIRROR_ANNOTATION,
  CONFIG_HASH_ANNOTATION,
]);

export interface PodMeta {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  /** Pending, Running, Succeeded, Failed, Unknown; '' when the status has none yet. */
  readonly phase: string;
  /** Only the annotations agentmeter reads: `agentmeter.dev/*`, the OTel session id and the
   * static-pod config annotations. */
  readonly annotations: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly podIPs: readonly string[];
  readonly hostNetwork: boolean;
  readonly ownerRef?: { readonly kind: string; readonly name: string };
  /** Static pod: the config hash that the kubelet uses as the pod UID in the cgroup path,
   * while this mirror pod's metadata.uid is assigned by the apiserver. */
  readonly mirrorOf?: string;
  /** RFC 3339 with milliseconds (Date.toISOString), whichever form the input had. */
  readonly deletionTimestamp?: string;
  /** Phase Succeeded or Failed: containers are gone and will not run again. */
  readonly terminated: boolean;
}

export class PodMetaError extends Error {
  override readonly name = 'PodMetaError';
}

/** The UID the kubelet names the pod's cgroup after. */
export function cgroupUidOf(meta: PodMeta): string {
  return meta.mirrorOf ?? meta.uid;
}

/** The annotations the agent reads: its own, the session id, the static-pod mirror and hash. */
function keptAnnotations(all: Record<string, string> | undefined): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [k, v] of Object.entries(all ?? {})) {
    if (k.startsWith(AGENTMETER_PREFIX) || KEPT_ANNOTATIONS.has(k)) kept[k] = v;
  }
  return kept;
}

/**
 * The part of a pod toPodMeta reads, for the informer's cache: the full object (managedFields,
 * container statuses, last-applied annotations) is several times larger and held for the
 * pod's life.
 */
export function slimPod(pod: V1Pod): V1Pod {
  const md = pod.metadata ?? {};
  return {
    metadata: {
      name: md.name,
      namespace: md.namespace,
      uid: md.uid,
      resourceVersion: md.resourceVersion,
      labels: md.labels,
      annotations: keptAnnotations(md.annotations),
      ...(md.ownerReferences ? { ownerReferences: md.ownerReferences } : {}),
      ...(md.deletionTimestamp ? { deletionTimestamp: md.deletionTimestamp } : {}),
    },
    spec: { containers: [], hostNetwork: pod.spec?.hostNetwork ?? false },
    status: {
      ...(pod.status?.phase ? { phase: pod.status.phase } : {}),
      ...(pod.status?.podIP ? { podIP: pod.status.podIP } : {}),
      ...(pod.status?.podIPs ? { podIPs: pod.status.podIPs } : {}),
    },
  };
}

export function toPodMeta(pod: V1Pod): PodMeta {
  const md = pod.metadata;
  const uid = md?.uid;
  const namespace = md?.namespace;
  const name = md?.name;
  if (!uid || !namespace || !name) {
    throw new PodMetaError(
      `pod without uid/namespace/name (uid=${uid ?? '-'}, namespace=${namespace ?? '-'}, name=${name ?? '-'})`,
    );
  }
  const annotations = keptAnnotations(md.annotations);
  const phase = pod.status?.phase ?? '';
  const owners = md.ownerReferences ?? [];
  const owner = owners.find((o) => o.controller) ?? owners[0];
  const mirrorOf = annotations[MIRROR_ANNOTATION] || undefined;
  const deletion = md.deletionTimestamp;
  return {
    uid,
    namespace,
    name,
    phase,
    annotations,
    labels: { ...md.labels },
    podIPs: podIPs(pod),
    hostNetwork: pod.spec?.hostNetwork === true,
    ...(owner ? { ownerRef: { kind: owner.kind, name: owner.name } } : {}),
    ...(mirrorOf ? { mirrorOf } : {}),
    ...(deletion
      ? { deletionTimestamp: toIso(deletion, `pod ${namespace}/${name} deletionTimestamp`) }
      : {}),
    terminated: phase === 'Succeeded' || phase === 'Failed',
  };
}

function podIPs(pod: V1Pod): string[] {
  const ips = new Set<string>();
  for (const p of pod.status?.podIPs ?? []) if (p.ip) ips.add(p.ip);
  if (pod.status?.podIP) ips.add(pod.status.podIP);
  return [...ips];
}

/** Date (typed client) or string (watch JSON) → ISO string; V1Pod declares Date either way. */
function toIso(value: Date | string, what: string): string {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new PodMetaError(`${what} is not a timestamp: ${String(value)}`);
  return date.toISOString();
}
