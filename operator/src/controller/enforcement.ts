// Which namespaces and sessions Suspend budgets hold over their limit, and which sessions guards
// tripped on. Pure: the Enforcer and the session marks act on the answer.
import { guardReason } from '../enforce/plan.ts';
import type { PolicyOutcome } from './status-commit.ts';

export interface Suspensions {
  /** Namespace → the `policy/budget` that suspends it. */
  readonly namespaces: Map<string, string>;
  /** `namespace/session` → the `policy/budget` or guard (guardReason) that suspends it. */
  readonly sessions: Map<string, string>;
  /** Whether any Suspend budget is scoped to sessions (so marks must be kept in step). */
  readonly sessionBudgets: boolean;
  /** Sessions to mark over budget on every agent: the suspended ones and every session a guard
   * tripped on. */
  readonly marks: Set<string>;
}

export function suspensions(outcomes: readonly PolicyOutcome[]): Suspensions {
  const namespaces = new Map<string, string>();
  const sessions = new Map<string, string>();
  let sessionBudgets = false;
  for (const o of outcomes) {
    for (const f of o.figures) {
      if (f.budget.action !== 'Suspend') continue;
      const by = `${o.policy.metadata.name ?? ''}/${f.budget.name}`;
      const scope = f.budget.scope ?? 'Policy';
      if (scope === 'Session') sessionBudgets = true;
      for (const key of f.exceeded) {
        if (scope === 'Policy') for (const ns of o.namespaces) namespaces.set(ns, by);
        else if (scope === 'Namespace') namespaces.set(key, by);
        else sessions.set(key, by);
      }
    }
  }
  const marks = new Set(sessions.keys());
  for (const o of outcomes) {
    for (const t of o.tripped) {
      marks.add(t.session);
      if (t.action === 'Suspend') {
        sessions.set(t.session, guardReason(o.policy.metadata.name ?? '', t.guard));
      }
    }
  }
  return { namespaces, sessions, sessionBudgets, marks };
}
