import type { PolicySnapshot } from './compile-policy.ts';
import type { Labels } from './selector.ts';
import { matchesLabelSelector } from './selector.ts';

export interface PodIdentity {
  readonly namespace: string;
  readonly labels: Labels;
}

/** The label the apiserver puts on every namespace (immutable, equal to its name). */
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export function policySelects(
  policy: PolicySnapshot,
  pod: PodIdentity,
  namespaceLabels: Labels,
): boolean {
  const selector = policy.spec.selector;
  // Added here too so a selector on the namespace name works before the namespace is cached.
  const nsLabels = { ...namespaceLabels, [NAMESPACE_NAME_LABEL]: pod.namespace };
  return (
    matchesLabelSelector(selector?.namespaceSelector, nsLabels) &&
    matchesLabelSelector(selector?.podSelector, pod.labels)
  );
}

/**
 * The policy in force for a pod: of those that select it, the highest spec.priority (default 0);
 * ties go to the name that sorts first (UTF-16 code-unit order, locale-independent). null means
 * the pod is unpriced: it is still metered, with cost null and priced false.
 */
export function selectPolicy<P extends PolicySnapshot>(
  policies: readonly P[],
  pod: PodIdentity,
  namespaceLabels: Labels,
): P | null {
  let best: P | null = null;
  for (const policy of policies) {
    if (!policySelects(policy, pod, namespaceLabels)) continue;
    if (best === null || outranks(policy, best)) best = policy;
  }
  return best;
}

function outranks(a: PolicySnapshot, b: PolicySnapshot): boolean {
  const pa = a.spec.priority ?? 0;
  const pb = b.spec.priority ?? 0;
  return pa !== pb ? pa > pb : a.name < b.name;
}
