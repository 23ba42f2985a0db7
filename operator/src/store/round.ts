// A collection round's commit to the store, from what the exactly-once fold (PolicyFold) decided:
// the budget sums as the difference between the state the round started from and the state it
// finished with (so periods, late arrivals and budgets opened mid-period follow the fold's rules
// exactly), and the session totals and daily rollups from the contributions it counted. Pure.
import type { CallsEntry, LedgerPosition } from '@agentmeter/crds';
import type { Contribution } from '../budgets/contribution.ts';
import type { BudgetAccum, CarriedSession, PolicyState } from '../budgets/state.ts';
import { addRollups, addSessions, mergeInto, rollupKey, sessionKey } from './accounting.ts';
import type {
  BudgetDelta,
  BudgetReset,
  CallRecord,
  CursorMove,
  PeriodSession,
  RollupDelta,
  RoundCommit,
  SessionDelta,
  Tags,
} from './accounting.ts';

const DAY_MS = 86_400_000;
/** Entries written before agents recorded allocation tags, or without a tag value. */
const NO_TAGS: Tags = {};
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

/** The store's rows of the sessions a fold counted into each report period. */
export function periodSessionRows(sessions: readonly CarriedSession[]): PeriodSession[] {
  return sessions.map((s) => {
    const slash = s.key.indexOf('/');
    return {
      spec: s.spec,
      periodStartNs: BigInt(s.start) * MS,
      namespace: s.key.slice(0, slash),
      sessionId: s.key.slice(slash + 1),
    };
  });
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
  readonly #calls: CallRecord[] = [];

  /** Pass as PolicyFold's observer. */
  readonly record = (c: Contribution): void => {
    if (c.calls !== null) {
      this.#recordCalls(c, c.calls);
      return;
    }
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
    const r: RollupDelta = {
      day,
      namespace: c.namespace,
      tags: c.tags ?? NO_TAGS,
      kind: model ? 'model' : 'infra',
      item: '',
      costNano: c.totalNano,
      calls: 0n,
      inputTokens: c.inputTokens,
      outputTokens: c.outputTokens,
    };
    mergeInto(this.#rollups, rollupKey(r), r, addRollups);
  };

  /** A calls entry: its session's totals, a rollup per model, tool and host, and a row per call. */
  #recordCalls(c: Contribution, entry: CallsEntry): void {
    const day = Math.floor(c.timeMs / DAY_MS);
    const generation = BigInt(entry.cost?.policy.generation ?? '0');
    let first = BigInt(c.timeMs) * MS;
    let last = first;
    let unpriced = 0n;
    for (const call of entry.calls) {
      const start = BigInt(call.start);
      const end = BigInt(call.end);
      if (start < first) first = start;
      if (end > last) last = end;
      if (call.costNano === null) unpriced++;
      const input = BigInt(call.tokens?.input ?? '0');
      const output = BigInt(call.tokens?.output ?? '0');
      const costNano = call.costNano === null ? null : BigInt(call.costNano);
      const r: RollupDelta = {
        day,
        namespace: c.namespace,
        tags: c.tags ?? NO_TAGS,
        kind: call.kind,
        item:
          (call.kind === 'tool'
            ? call.tool?.name
            : call.kind === 'api'
              ? call.apiHost
              : call.model) ?? '',
        costNano: costNano ?? 0n,
        calls: 1n,
        inputTokens: input,
        outputTokens: output,
      };
      mergeInto(this.#rollups, rollupKey(r), r, addRollups);
      this.#calls.push({
        traceId: call.traceId,
        spanId: call.spanId,
        parentSpanId: call.parentSpanId,
        toolCallId: call.tool?.callId ?? null,
        startNs: start,
        endNs: end,
        namespace: c.namespace,
        sessionId: entry.session?.id ?? null,
        pod: entry.pod.name,
        kind: call.kind,
        operation: call.operation,
        provider: call.provider,
        model: call.model,
        toolName: call.tool?.name ?? null,
        toolType: call.tool?.type ?? null,
        apiHost: call.apiHost,
        inputTokens: input,
        outputTokens: output,
        cacheReadTokens: BigInt(call.tokens?.cacheRead ?? '0'),
        cacheCreationTokens: BigInt(call.tokens?.cacheCreation ?? '0'),
        reasoningTokens: BigInt(call.tokens?.reasoning ?? '0'),
        errorType: call.errorType,
        costNano,
        unpricedReason: call.unpriced,
        policyGeneration: generation,
        tags: c.tags ?? NO_TAGS,
      });
    }
    const session = entry.session;
    if (session === null) return;
    const d: SessionDelta = {
      namespace: session.namespace,
      sessionId: session.id,
      day,
      infraNano: 0n,
      tokensNano: c.breakdown.tokens,
      toolsNano: c.breakdown.tools,
      apisNano: c.breakdown.apis,
      calls: BigInt(entry.calls.length),
      unpricedCalls: unpriced,
      inputTokens: c.inputTokens,
      outputTokens: c.outputTokens,
      firstNs: first,
      lastNs: last,
    };
    mergeInto(this.#sessions, sessionKey(d), d, addSessions);
  }

  commit(
    policy: string,
    atNs: bigint,
    budgets: readonly BudgetDelta[],
    cursors: readonly CursorMove[],
    more: Pick<RoundCommit, 'state' | 'countFromMs' | 'uid' | 'resets' | 'periodSessions'> = {},
  ): RoundCommit {
    return {
      policy,
      atNs,
      cursors,
      budgets,
      ...more,
      sessions: [...this.#sessions.values()],
      rollups: [...this.#rollups.values()],
      calls: this.#calls,
    };
  }
}
