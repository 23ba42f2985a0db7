// Readies one policy for a round: its state and cursors as the store's last committed round left
// them, decoded into a fold that pages are added to. Closed periods it still holds become
// CostReports first, so a crash anywhere after repeats the report (AlreadyExists), never loses it.
import type { CostPolicy, LedgerPosition } from '@agentmeter/crds';
import type { Clock, Condition } from '../runtime/index.ts';
import { mergePatchOptions } from '../runtime/index.ts';
import { PolicyFold, type PolicyView } from '../budgets/accumulate.ts';
import { decodeCursors } from '../budgets/cursors.ts';
import { periodAt } from '../budgets/periods.ts';
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
  /** Entries measured before this are not counted (see policy_state.count_from_ms). */
  readonly countFromMs: number;
  /** Set when the store held nothing of a policy whose status shows it counted before. */
  readonly rebuild?: Rebuild;
}

/** A store found empty for a policy that had counted: what the ledgers let it rebuild. */
export interface Rebuild {
  /** The open periods' earliest start: closed periods are in their CostReports already. */
  readonly countFromMs: number;
  /** Per node the status named, what is not rebuilt (empty: everything is). */
  readonly notRebuilt: readonly string[];
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

/** The cursors the policy's status last showed; none when it shows none or they are unreadable. */
function statusCursors(policy: CostPolicy): LedgerPosition[] {
  try {
    return decodeCursors(policy.status?.collection?.cursors);
  } catch {
    return [];
  }
}

/**
 * Whether the store lost what `policy` counted (it holds nothing of it while the status shows
 * cursors), and if so what the agents' ledgers cannot give back: entries an agent compacted
 * (up to its anchor), and every entry of an agent that does not answer now.
 */
export function rebuildOf(
  policy: CostPolicy,
  held: { readonly state: string; readonly cursors: ReadonlyMap<string, unknown> },
  anchors: ReadonlyMap<string, bigint>,
  nowMs: number,
): Rebuild | undefined {
  if (held.state !== '' || held.cursors.size > 0) return undefined;
  const counted = statusCursors(policy);
  if (counted.length === 0) return undefined;
  const starts = (policy.spec.budgets ?? []).map(
    (b) => periodAt(nowMs, b.period, b.timeZone).start,
  );
  const notRebuilt = counted.flatMap((c) => {
    const anchor = anchors.get(c.node);
    if (anchor === undefined)
      return [`${c.node}: its agent does not answer; it is rebuilt when it does`];
    if (anchor === 0n) return [];
    return [
      `${c.node}: entries 1-${anchor} were compacted by the agent; their spend in the open period is not rebuilt`,
    ];
  });
  return { countFromMs: starts.length > 0 ? Math.min(...starts) : nowMs, notRebuilt };
}

export async function preparePolicy(
  deps: PrepareDeps,
  policy: CostPolicy,
  positions: RoundPositions,
): Promise<PolicyRun> {
  const now = deps.clock.date().getTime();
  const name = policy.metadata.name ?? '';
  let point = await deps.store.point(name);
  const uid = policy.metadata.uid ?? '';
  if (point.uid !== '' && uid !== '' && point.uid !== uid) {
    // A CostPolicy deleted and created again under this name: what the store counted was the
    // earlier object's (its spend, its cursors), not this one's, which starts afresh.
    await deps.store.forget(name);
    point = await deps.store.point(name);
  }
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
  const rebuild = rebuildOf(policy, point, positions.anchors, now);
  const countFromMs = rebuild?.countFromMs ?? point.countFromMs;
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
      // An entry counts from a second before createdMs (clock skew at creation); a rebuild's
      // floor is exact, so the period before it is not counted again.
      createdMs: Math.max(
        ms(policy.metadata.creationTimestamp),
        countFromMs > 0 ? countFromMs + 1000 : 0,
      ),
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
    countFromMs,
    ...(rebuild ? { rebuild } : {}),
    fold: new PolicyFold(committed, cursors, view, now, recorder.record),
  };
}
