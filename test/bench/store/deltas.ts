// One agent pull of the synthetic month as the operator's store commits it: the call records and
// what they and the infrastructure shares add to the sums, merged with the store's own helpers so
// each key is written once per round.
import {
  addRollups,
  addSessions,
  mergeInto,
  rollupKey,
  sessionKey,
} from '../../../operator/src/store/accounting.ts';
import type {
  BudgetDelta,
  CallRecord,
  CursorMove,
  RollupDelta,
  RoundCommit,
  SessionDelta,
  Tags,
} from '../../../operator/src/store/accounting.ts';
import { BUDGETS, DAY_NS, MONTH_START_NS, POLICY, POLICY_GENERATION, tagSets } from './month.ts';
import type { Pull } from './month.ts';

const dayOf = (ns: bigint): number => Number(ns / DAY_NS);
const TAGS = new Map(tagSets().map((t) => [t.id, t.tags]));
const tagsOf = (id: number): Tags => TAGS.get(id) ?? {};

interface Spend {
  readonly namespace: string;
  readonly sessionId: string;
  readonly atNs: bigint;
  readonly tagSet: number;
  readonly kind: RollupDelta['kind'];
  readonly item: string;
  readonly nano: bigint;
  readonly priced: boolean;
  readonly inputTokens: bigint;
  readonly outputTokens: bigint;
}

export function roundOf(pull: Pull, cursor: CursorMove, atNs: bigint): RoundCommit {
  const sessions = new Map<string, SessionDelta>();
  const budgets = new Map<string, BudgetDelta>();
  const rollups = new Map<string, RollupDelta>();
  const add = (s: Spend): void => {
    const isCall = s.kind !== 'infra';
    const session: SessionDelta = {
      namespace: s.namespace,
      sessionId: s.sessionId,
      day: dayOf(s.atNs),
      infraNano: isCall ? 0n : s.nano,
      tokensNano: s.kind === 'model' ? s.nano : 0n,
      toolsNano: s.kind === 'tool' ? s.nano : 0n,
      apisNano: s.kind === 'api' ? s.nano : 0n,
      calls: isCall ? 1n : 0n,
      unpricedCalls: s.priced ? 0n : 1n,
      inputTokens: s.inputTokens,
      outputTokens: s.outputTokens,
      firstNs: s.atNs,
      lastNs: s.atNs,
    };
    mergeInto(sessions, sessionKey(session), session, addSessions);
    for (const [budget, scopeKey] of [
      [BUDGETS.all, ''],
      [BUDGETS.namespace, s.namespace],
      [BUDGETS.session, `${s.namespace}/${s.sessionId}`],
    ] as const) {
      const delta = { budget, periodStartNs: MONTH_START_NS, scopeKey, nano: s.nano };
      mergeInto(budgets, `${budget}\n${scopeKey}`, delta, (a, b) => ({
        ...a,
        nano: a.nano + b.nano,
      }));
    }
    const rollup: RollupDelta = {
      day: session.day,
      namespace: s.namespace,
      tags: tagsOf(s.tagSet),
      kind: s.kind,
      item: s.item,
      costNano: s.nano,
      calls: session.calls,
      inputTokens: s.inputTokens,
      outputTokens: s.outputTokens,
    };
    mergeInto(rollups, rollupKey(rollup), rollup, addRollups);
  };

  const c = pull.calls;
  const calls: CallRecord[] = [];
  for (let i = 0; i < c.traceId.length; i++) {
    const call: CallRecord = {
      traceId: c.traceId[i] as string,
      spanId: c.spanId[i] as string,
      parentSpanId: c.parentSpanId[i] as string,
      toolCallId: null,
      startNs: c.startNs[i] as bigint,
      endNs: c.endNs[i] as bigint,
      namespace: c.namespace[i] as string,
      sessionId: c.sessionId[i] as string,
      pod: c.pod[i] as string,
      kind: c.kind[i] as CallRecord['kind'],
      operation: c.operation[i] as string,
      provider: c.provider[i] ?? null,
      model: c.model[i] ?? null,
      toolName: c.toolName[i] ?? null,
      toolType: c.toolType[i] ?? null,
      apiHost: c.apiHost[i] ?? null,
      inputTokens: c.inputTokens[i] as bigint,
      outputTokens: c.outputTokens[i] as bigint,
      cacheReadTokens: c.cacheReadTokens[i] as bigint,
      cacheCreationTokens: c.cacheCreationTokens[i] as bigint,
      reasoningTokens: c.reasoningTokens[i] as bigint,
      errorType: c.errorType[i] ?? null,
      costNano: c.costNano[i] ?? null,
      unpricedReason: c.unpricedReason[i] ?? null,
      policyGeneration: POLICY_GENERATION,
      tags: tagsOf(c.tagSet[i] as number),
    };
    calls.push(call);
    add({
      namespace: call.namespace,
      sessionId: call.sessionId as string,
      atNs: call.startNs,
      tagSet: c.tagSet[i] as number,
      kind: call.kind,
      item: call.model ?? call.toolName ?? call.apiHost ?? '',
      nano: call.costNano ?? 0n,
      priced: call.costNano !== null,
      inputTokens: call.inputTokens,
      outputTokens: call.outputTokens,
    });
  }
  for (const share of pull.infra) {
    add({
      ...share,
      kind: 'infra',
      item: '',
      priced: true,
      inputTokens: 0n,
      outputTokens: 0n,
    });
  }
  return {
    policy: POLICY,
    atNs,
    cursors: [cursor],
    budgets: [...budgets.values()],
    sessions: [...sessions.values()],
    rollups: [...rollups.values()],
    calls,
  };
}
