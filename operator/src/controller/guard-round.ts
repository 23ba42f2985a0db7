// One policy's guards in a round: the committed activity window plus this round's entries,
// judged against spec.guards, and the tripped set the status will hold. Pure over its inputs, so
// a round run again after a status conflict gives the same answer for the same ledger positions.
import type { BudgetStatus, CostPolicy, GuardsStatus } from '@agentmeter/crds';
import type { CompiledGuard } from '../guards/compile.ts';
import { evaluateGuards } from '../guards/evaluate.ts';
import { guardPeriod } from '../guards/period.ts';
import {
  CLEAR_ANNOTATION,
  clearRequested,
  nextGuards,
  type GuardsOutput,
} from '../guards/tripped.ts';
import type { ActivityWindow, EntryActivity } from '../guards/window.ts';

export interface GuardRoundInput {
  readonly policy: CostPolicy;
  readonly guards: readonly CompiledGuard[];
  readonly window: ActivityWindow;
  /** Activity of the entries this round counts. */
  readonly pending: readonly EntryActivity[];
  readonly budgets: readonly BudgetStatus[];
  readonly nowMs: number;
}

export function guardRound(input: GuardRoundInput): GuardsOutput {
  const { policy, guards, window, pending, budgets, nowMs } = input;
  const held = policy.status?.guards;
  const clear = policy.metadata.annotations?.[CLEAR_ANNOTATION];
  const period = guardPeriod(budgets, nowMs);
  // Activity a clear forgave, or from before this period, is not judged again.
  const clearedAt = clearRequested(held, clear)
    ? nowMs
    : held?.clearedAt === undefined
      ? -Infinity
      : Date.parse(held.clearedAt);
  const afterMs = Math.max(clearedAt, period.start - 1);
  const trips = guards.length > 0 ? evaluateGuards(guards, window.records(pending, afterMs)) : [];
  return nextGuards({ held, clear, trips, nowMs, untilMs: period.end });
}

/** The status field: absent for a policy that has never had guards or a guards status. */
export function guardsField(
  policy: CostPolicy,
  guards: readonly CompiledGuard[],
  status: GuardsStatus,
): { guards?: GuardsStatus } {
  return guards.length > 0 || policy.status?.guards !== undefined ? { guards: status } : {};
}
