// metav1.Condition bookkeeping, as apimachinery's meta.SetStatusCondition does it: pure, so the
// reconcile can compute status, compare it with what is stored, and write only on change.

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** metav1.Condition; structurally the same as the Condition type in the CRD schema. */
export interface Condition {
  type: string;
  status: ConditionStatus;
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export interface ConditionUpdate {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

/** metav1.Time serialises with whole seconds; match it so unchanged status compares equal. */
function toTimestamp(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

/**
 * Returns a new list with `update` applied. lastTransitionTime moves only when the status flips
 * (or the condition is new); reason, message and observedGeneration always take the new values.
 * Other conditions and the order of the list are kept.
 */
export function setCondition(
  conditions: readonly Condition[],
  update: ConditionUpdate,
  generation: number,
  now: Date,
): Condition[] {
  const index = conditions.findIndex((c) => c.type === update.type);
  const previous = index === -1 ? undefined : conditions[index];
  const next: Condition = {
    type: update.type,
    status: update.status,
    observedGeneration: generation,
    lastTransitionTime:
      previous && previous.status === update.status
        ? previous.lastTransitionTime
        : toTimestamp(now),
    reason: update.reason,
    message: update.message,
  };
  if (index === -1) return [...conditions, next];
  return conditions.map((c, i) => (i === index ? next : c));
}
