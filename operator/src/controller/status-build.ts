// Pure status building for a CostPolicy: the conditions a round reports and the status fields
// the operator owns. Plain data in, plain data out.
import type { CostPolicy, CostPolicyStatus } from '@agentmeter/crds';
import { setCondition, type Condition, type ConditionUpdate } from '../runtime/index.ts';
import { rfc3339 } from '../budgets/periods.ts';
import type { ChainFailure } from '../collect/pull.ts';
import type { ComputedBudgets } from '../status/compute.ts';

/** An apiserver outage that ended, as this operator saw it (ms since the epoch). */
export interface Outage {
  readonly since: number;
  readonly until: number;
  readonly failedRounds: number;
}

/** What a round found about the agents and the apiserver, shared by every policy. */
export interface Health {
  readonly unreachable: readonly string[];
  readonly refused: readonly { node: string; failure: ChainFailure }[];
  readonly outage?: Outage;
}

export function outageNote(o: Outage): string {
  return `apiserver was unreachable from ${rfc3339(o.since)} to ${rfc3339(o.until)} (${o.failedRounds} rounds failed); collection resumed from the stored cursors, nothing was lost`;
}

/** A list for a condition message, cut after ten items so the status stays small. */
export function list(xs: readonly string[]): string {
  return xs.length > 10
    ? `${xs.slice(0, 10).join(', ')} and ${xs.length - 10} more`
    : xs.join(', ');
}

function condition(
  type: string,
  ok: boolean,
  yes: Omit<ConditionUpdate, 'type' | 'status'>,
  no: Omit<ConditionUpdate, 'type' | 'status'>,
): ConditionUpdate {
  return ok ? { type, status: 'True', ...yes } : { type, status: 'False', ...no };
}

/** The condition updates of one round for a policy; `conditions` are the ones it holds now. */
export function roundConditions(
  computed: ComputedBudgets,
  health: Health,
  mismatches: readonly string[],
  conditions: readonly Condition[],
): ConditionUpdate[] {
  const exceeded = computed.figures.filter((f) => f.exceeded.length > 0);
  const warned = computed.budgets.filter((b) => (b.thresholdsReached ?? []).length > 0);
  const refused = [
    ...health.refused.map((r) => `${r.node}: ${r.failure.reason} at seq ${r.failure.seq}`),
    ...mismatches,
  ];
  const updates: ConditionUpdate[] = [
    {
      type: 'Ready',
      status: 'True',
      reason: 'Collecting',
      message: 'ledgers are collected and counted',
    },
    condition(
      'BudgetExceeded',
      exceeded.length > 0,
      {
        reason: 'LimitReached',
        message: `exceeded: ${list(exceeded.map((f) => `${f.budget.name} (${list(f.exceeded)})`))}`,
      },
      { reason: 'WithinLimits', message: 'no budget is exceeded' },
    ),
    condition(
      'BudgetWarning',
      warned.length > 0,
      {
        reason: 'ThresholdReached',
        message: `thresholds reached: ${list(warned.map((b) => `${b.name} ${(b.thresholdsReached ?? []).join('/')}%`))}`,
      },
      { reason: 'BelowThresholds', message: 'no threshold is reached' },
    ),
    condition(
      'LedgerVerified',
      refused.length === 0,
      { reason: 'ChainsVerified', message: 'every collected ledger chain verified' },
      { reason: 'ChainVerificationFailed', message: `entries refused: ${list(refused)}` },
    ),
    condition(
      'AgentsReachable',
      health.unreachable.length === 0,
      { reason: 'AllAgentsAnswered', message: 'every discovered agent answered' },
      { reason: 'AgentsUnreachable', message: `unreachable: ${list(health.unreachable)}` },
    ),
  ];
  // Touched only around an outage, so quiet rounds keep the record of the last one.
  if (health.outage !== undefined)
    updates.push({
      type: 'ApiserverReachable',
      status: 'True',
      reason: 'RecoveredFromOutage',
      message: outageNote(health.outage),
    });
  else if (!conditions.some((c) => c.type === 'ApiserverReachable'))
    updates.push({
      type: 'ApiserverReachable',
      status: 'True',
      reason: 'Reachable',
      message: 'no apiserver outage seen by this operator',
    });
  return updates;
}

/** Applies condition updates at `generation`, as of `now`. */
export function applyConditions(
  conditions: readonly Condition[],
  updates: readonly ConditionUpdate[],
  generation: number,
  now: Date,
): Condition[] {
  let out = [...conditions];
  for (const u of updates) out = setCondition(out, u, generation, now);
  return out;
}

/** The status a round gives a policy, before the collection fields are added. */
export function buildStatus(
  policy: CostPolicy,
  computed: ComputedBudgets,
  health: Health,
  mismatches: readonly string[],
  now: number,
  extra: readonly ConditionUpdate[] = [],
): CostPolicyStatus {
  const generation = policy.metadata.generation ?? 1;
  const held = (policy.status?.conditions ?? []) as Condition[];
  const updates = [...roundConditions(computed, health, mismatches, held), ...extra];
  return {
    observedGeneration: generation,
    conditions: applyConditions(held, updates, generation, new Date(now)),
    ...(computed.topBudgetUtilization
      ? { topBudgetUtilization: computed.topBudgetUtilization }
      : {}),
    budgets: computed.budgets,
  };
}

/** JSON with object keys sorted: the apiserver returns status with its keys reordered. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** Whether two statuses agree on every field the operator owns (a write would change nothing). */
export function sameOwnedStatus(
  a: CostPolicyStatus | undefined,
  b: CostPolicyStatus | undefined,
): boolean {
  const owned = (s: CostPolicyStatus | undefined) =>
    canonical([
      s?.observedGeneration,
      s?.conditions ?? [],
      s?.topBudgetUtilization,
      s?.budgets ?? [],
      s?.guards ?? {},
      s?.lastCollectionTime,
      s?.collection?.cursors ?? '',
      s?.accumulatorState ?? '',
      s?.spendHistory ?? '',
    ]);
  return owned(a) === owned(b);
}
