import type { LabelSelector, LabelSelectorRequirement } from '../schema/common-types.ts';

export type Labels = Readonly<Record<string, string>>;

// Own properties only, so a label key such as "constructor" is never found on the prototype.
function labelValue(labels: Labels, key: string): string | undefined {
  return Object.hasOwn(labels, key) ? labels[key] : undefined;
}

function requirementHolds(req: LabelSelectorRequirement, labels: Labels): boolean {
  const value = labelValue(labels, req.key);
  const values = req.values ?? [];
  switch (req.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      // As in Kubernetes: a pod without the key is "not in" any set of values.
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    default:
      // An operator newer than this code: fail closed rather than price with the wrong policy.
      return false;
  }
}

/**
 * Kubernetes label selector semantics: an absent or empty selector matches everything;
 * otherwise every matchLabels pair and every matchExpressions requirement must hold. Malformed
 * requirements (In with no values, …) are refused by the CRD schema and by compilePolicy, so
 * here they simply follow set logic.
 */
export function matchesLabelSelector(selector: LabelSelector | undefined, labels: Labels): boolean {
  if (selector === undefined) return true;
  for (const [key, want] of Object.entries(selector.matchLabels ?? {})) {
    if (labelValue(labels, key) !== want) return false;
  }
  return (selector.matchExpressions ?? []).every((req) => requirementHolds(req, labels));
}
