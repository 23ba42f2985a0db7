// Readies one policy for a round: its state and cursors as the store's last committed round left
// them, decoded into a fold that pages are added to. Closed periods it still holds become
// CostReports first, so a crash anywhere after repeats the report (AlreadyExists), never loses it.
import type { CostPolicy, LedgerPosition } from '@agentmeter/crds';
import type { Clock, Condition } from '../runtime/index.ts';
import { mergePatchOptions } from '../runtime/index.ts';
import { PolicyFold, type PolicyView } from '../budgets/accumulate.ts';
import { decodeState, StateDecodeError, type PolicyState } from '../budgets/state.ts';
import { compileGuards, lookbackMs, type CompiledGuard } from '../guards/compile.ts';
import type { AccountingStore } from '../store/accounting.ts';
import { RoundRecorder } from '../store/round.ts';
import { POLICY_API } from './policies.ts';
import { writeReports, type ReportWriterDeps } from './report-writer.ts';
import { applyConditions } from './status-build.ts';

/** One policy's reconcile in progress: its stored object and the fold of this round's pages. */
export interface PolicyRun {
  readonly policy: CostPolicy;
  readonly now: number;
  /** CostReports written while preparing. */
  readonly reports: number;
  readonly fold: PolicyFold;
  readonly guards: readonly CompiledGuard[];
  /** What the store held when the run began: the fold's state (sums left out), its encoded
   * text, and the cursors the round's commit moves from. */
  readonly committed: PolicyState;
  readonly stateText: string;
  readonly from: readonly LedgerPosition[];
  /** Session totals and rollups of what the fold counts. */
  readonly recorder: RoundRecorder;
}

export interface PrepareDeps extends ReportWriterDeps {
  readonly clock: Clock;
  readonly store: AccountingStore;
}

/** Where each node's ledger starts now (the agent's anchor seq). */
export interface RoundPositions {
  readonly anchors: ReadonlyMap<string, bigint>;
}

function ms(timestamp: string | undefined): number {
  return timestamp === undefined ? 0 : Date.parse(timestamp);
}

export async function preparePolicy(
  deps: PrepareDeps,
  policy: CostPolicy,
  positions: RoundPositions,
): Promise<PolicyRun> {
  const now = deps.clock.date().getTime();
  const name = policy.metadata.name ?? '';
  const point = await deps.store.point(name);
  let committed;
  try {
    committed = decodeState(point.state);
  } catch (err) {
    if (!(err instanceof StateDecodeError)) throw err;
    // Counting on from a corrupt state would double count or lose; stop and say so.
    const conditions = applyConditions(
      (policy.status?.conditions ?? []) as Condition[],
      [{ type: 'Ready', status: 'False', reason: 'StateCorrupt', message: err.message }],
      policy.metadata.generation ?? 1,
      deps.clock.date(),
    );
    await deps.custom.patchClusterCustomObjectStatus(
      { ...POLICY_API, name, body: { status: { conditions } } },
      mergePatchOptions(),
    );
    throw err;
  }
  const from = [...point.cursors].map(([node, c]) => ({ node, ...c }));
  let reports = 0;
  if (committed.closing.length > 0) {
    reports = await writeReports(deps, policy, committed.closing);
    committed = { ...committed, closing: [] };
  }
  // A cursor the agent compacted past: that policy starts at the agent's anchor.
  const cursors = from.filter((c) => c.seq >= (positions.anchors.get(c.node) ?? 0n));
  const guards = compileGuards(policy.spec.guards ?? []);
  const view: PolicyView = {
    identity: {
      name,
      currency: policy.spec.currency,
      createdMs: ms(policy.metadata.creationTimestamp),
      rates: policy.spec.rates,
    },
    generation: policy.metadata.generation ?? 1,
    budgets: policy.spec.budgets ?? [],
    // Twice the longest window: entries arrive up to a round late, and a window ending at an
    // entry that arrives now may start a full window before it.
    ...(guards.length > 0 ? { activitySinceMs: now - 2 * lookbackMs(guards) } : {}),
  };
  const recorder = new RoundRecorder();
  return {
    policy,
    now,
    reports,
    guards,
    committed,
    stateText: point.state,
    from,
    recorder,
    fold: new PolicyFold(committed, cursors, view, now, recorder.record),
  };
}
