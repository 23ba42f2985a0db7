/** Hand-written types of the schema pieces in common.ts. */

/**
 * A non-negative decimal amount such as "12.50": at most 18 integer and 9 fractional digits.
 * Never parse it into a JavaScript number; convert it to integer nano-units instead.
 */
export type Money = string;

/** A date-time in RFC 3339 form, e.g. "2026-05-01T00:00:00Z". */
export type Timestamp = string;

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

/** metav1.Condition. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  lastTransitionTime: Timestamp;
  reason: string;
  message: string;
}

/** The metadata fields agentmeter reads and writes; the apiserver fills in the rest. */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: Timestamp;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
