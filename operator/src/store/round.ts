// A collection round's commit to the store, from what the exactly-once fold (PolicyFold) decided:
// the budget sums as the difference between the state the round started from and the state it
// finished with (so periods, late arrivals and budgets opened mid-period follow the fold's rules
// exactly), and the session totals and daily rollups from the contributions it counted. Pure.
import type { LedgerPosition } from '@agentmeter/crds';
import type { Contribution } from '../budgets/contribution.ts';
import type { BudgetAccum, PolicyState } from '../budgets/state.ts';
import { addRollups, addSessions, mergeInto, rollupKey, sessionKey } from './accounting.ts';
import type {
  BudgetDelta,
  BudgetReset,
  CursorMove,
  RollupDelta,
  RoundCommit,
  SessionDelta,
} from './accounting.ts';

const DAY_MS = 86_400_000;
const MS = 1_000_000n;

function continues(before: PolicyState, name: string, b: BudgetAccum): boolean {
  const old = before.budgets.get(name);
  return old !== undefined && old.spec === b.spec && old.start === b.start;
}

/** Per-budget sum changes from `before` to `after`; a budget in a new period starts from 0. */
export function budgetDeltas(before: PolicyState, after: PolicyState): BudgetDelta[] {
  const out: BudgetDelta[] = [];
  for (const [name, b] of after.budgets) {
    const old = before.budgets.get(name);
    const same = continues(before, name, b);
    for (const [scopeKey, nano] of b.sums) {
      const delta = nano - (same ? (old?.sums.get(scopeKey) ?? 0n) : 0n);
      if (delta !== 0n) {
        out.push({ budget: name, periodStartNs: BigInt(b.start) * MS, scopeKey, nano: delta });
      }
    }
  }
  return out;
}

/**
 * Budgets whose sums in `after` do not continue `before`'s (new, re-added, or period, time zone
 * or scope changed): the store's rows of that period are replaced, not added to.
 */
export function budgetResets(before: PolicyState, after: PolicyState): BudgetReset[] {
  return [...after.budgets]
    .filter(([name, b]) => !continues(before, name, b))
    .map(([budget, b]) => ({ budget, periodStartNs: BigInt(b.start) * MS }));
}

/** The fold's state as the store keeps it: budget periods without their sums (budget_sums
 * holds those), so the state does not grow with the number of scope keys. */
export function withoutSums(state: PolicyState): PolicyState {
  return {
    ...state,
    budgets: new Map([...state.budgets].map(([k, b]) => [k, { ...b, sums: new Map() }])),
  };
}

/** Cursor moves from the positions a round started at to the ones it finished at. */
export function cursorMoves(
  before: readonly LedgerPosition[],
  after: readonly LedgerPosition[],
): CursorMove[] {
  const from = new Map(before.map((c) => [c.node, c]));
  const out: CursorMove[] = [];
  for (const c of after) {
    const was = from.get(c.node);
    if (was !== undefined && was.seq === c.seq && was.hash === c.hash) continue;
    out.push({
      node: c.node,
      from: was === undefined ? null : { seq: was.seq, hash: was.hash },
      to: { seq: c.seq, hash: c.hash },
    });
  }
  return out;
}

/** Collects session totals and daily rollups from the contributions a fold counts. */
export class RoundRecorder {
  readonly #sessions = new Map<string, SessionDelta>();
  readonly #rollups = new Map<string, RollupDelta>();

  /** Pass as PolicyFold's observer. */
  readonly record = (c: Contribution): void => {
    const day = Math.floor(c.timeMs / DAY_MS);
    const atNs = BigInt(c.timeMs) * MS;
    // A tokens entry is a model's cost; a pod-usage entry is the pod's infrastructure.
    const model = c.breakdown.tokens > 0n || c.inputTokens > 0n || c.outputTokens > 0n;
    for (const s of c.sessions) {
      const slash = s.key.indexOf('/');
      const d: SessionDelta = {
        namespace: s.key.slice(0, slash),
        sessionId: s.key.slice(slash + 1),
        day,
        infraNano: model ? 0n : s.nano,
        tokensNano: model ? s.nano : 0n,
        toolsNano: 0n,
        apisNano: 0n,
        calls: 0n,
        unpricedCalls: 0n,
        inputTokens: model ? c.inputTokens : 0n,
        outputTokens: model ? c.outputTokens : 0n,
        firstNs: atNs,
        lastNs: atNs,
      };
      mergeInto(this.#sessions, sessionKey(d), d, addSessions);
    }
    // Allocation tags arrive with the entries of issue 17's cost centers; until then none.
    const r: RollupDelta = {
      day,
      namespace: c.namespace,
      tags: {},
      kind: model ? 'model' : 'infra',
      item: '',
      costNano: c.totalNano,
      calls: 0n,
      inputTokens: c.inputTokens,
      outputTokens: c.outputTokens,
    };
    mergeInto(this.#rollups, rollupKey(r), r, addRollups);
  };

  commit(
    policy: string,
    atNs: bigint,
    budgets: readonly BudgetDelta[],
    cursors: readonly CursorMove[],
    more: Pick<RoundCommit, 'state' | 'countFromMs' | 'resets'> = {},
  ): RoundCommit {
    return {
      policy,
      atNs,
      cursors,
      budgets,
      ...more,
      sessions: [...this.#sessions.values()],
      rollups: [...this.#rollups.values()],
      calls: [],
    };
  }
}
