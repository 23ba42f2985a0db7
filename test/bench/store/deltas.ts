// What one pull adds to the store's sums: pure, plain data in and out (the operator's core would
// compute this; the engines only apply it). Each key appears once per pull, so one upsert per key
// and transaction, whatever the number of entries behind it.
import { BUDGETS, DAY_NS, MONTH_START_NS, POLICY } from './month.ts';
import type { Pull } from './month.ts';

export interface SessionDelta {
  namespace: string;
  sessionId: string;
  day: number;
  infraNano: bigint;
  tokensNano: bigint;
  toolsNano: bigint;
  apisNano: bigint;
  totalNano: bigint;
  calls: bigint;
  unpricedCalls: bigint;
  inputTokens: bigint;
  outputTokens: bigint;
  cacheReadTokens: bigint;
  cpuNs: bigint;
  memoryByteSeconds: bigint;
  firstNs: bigint;
  lastNs: bigint;
}

export interface BudgetDelta {
  readonly policy: string;
  readonly budget: string;
  readonly periodStartNs: bigint;
  readonly scopeKey: string;
  nano: bigint;
}

export interface RollupDelta {
  readonly day: number;
  readonly policy: string;
  readonly namespace: string;
  readonly tagSet: number;
  readonly kind: 'infra' | 'model' | 'tool' | 'api';
  readonly item: string;
  costNano: bigint;
  calls: bigint;
  inputTokens: bigint;
  outputTokens: bigint;
}

export interface PullDeltas {
  readonly sessions: SessionDelta[];
  readonly budgets: BudgetDelta[];
  readonly rollups: RollupDelta[];
}

const dayOf = (ns: bigint): number => Number(ns / DAY_NS);

export function deltasOf(pull: Pull): PullDeltas {
  const sessions = new Map<string, SessionDelta>();
  const budgets = new Map<string, BudgetDelta>();
  const rollups = new Map<string, RollupDelta>();
  const session = (namespace: string, sessionId: string, atNs: bigint): SessionDelta => {
    const day = dayOf(atNs);
    const key = `${namespace}/${sessionId}/${day}`;
    let d = sessions.get(key);
    if (d === undefined) {
      d = {
        namespace,
        sessionId,
        day,
        infraNano: 0n,
        tokensNano: 0n,
        toolsNano: 0n,
        apisNano: 0n,
        totalNano: 0n,
        calls: 0n,
        unpricedCalls: 0n,
        inputTokens: 0n,
        outputTokens: 0n,
        cacheReadTokens: 0n,
        cpuNs: 0n,
        memoryByteSeconds: 0n,
        firstNs: atNs,
        lastNs: atNs,
      };
      sessions.set(key, d);
    }
    if (atNs < d.firstNs) d.firstNs = atNs;
    if (atNs > d.lastNs) d.lastNs = atNs;
    return d;
  };
  const spend = (namespace: string, sessionId: string, nano: bigint): void => {
    for (const [budget, scopeKey] of [
      [BUDGETS.all, ''],
      [BUDGETS.namespace, namespace],
      [BUDGETS.session, `${namespace}/${sessionId}`],
    ] as const) {
      const key = `${budget}\n${scopeKey}`;
      const b = budgets.get(key);
      if (b === undefined) {
        budgets.set(key, { policy: POLICY, budget, periodStartNs: MONTH_START_NS, scopeKey, nano });
      } else {
        b.nano += nano;
      }
    }
  };
  const rollup = (
    atNs: bigint,
    namespace: string,
    tagSet: number,
    kind: RollupDelta['kind'],
    item: string,
  ): RollupDelta => {
    const day = dayOf(atNs);
    const key = `${day}\n${namespace}\n${tagSet}\n${kind}\n${item}`;
    let r = rollups.get(key);
    if (r === undefined) {
      r = {
        day,
        policy: POLICY,
        namespace,
        tagSet,
        kind,
        item,
        costNano: 0n,
        calls: 0n,
        inputTokens: 0n,
        outputTokens: 0n,
      };
      rollups.set(key, r);
    }
    return r;
  };

  const c = pull.calls;
  for (let i = 0; i < c.traceId.length; i++) {
    const ns = c.namespace[i] as string;
    const sid = c.sessionId[i] as string;
    const at = c.startNs[i] as bigint;
    const kind = c.kind[i] as 'model' | 'tool' | 'api';
    const cost = c.costNano[i] ?? 0n;
    const input = c.inputTokens[i] as bigint;
    const output = c.outputTokens[i] as bigint;
    const s = session(ns, sid, at);
    s.calls += 1n;
    if (c.costNano[i] === null) s.unpricedCalls += 1n;
    if (kind === 'model') s.tokensNano += cost;
    else if (kind === 'tool') s.toolsNano += cost;
    else s.apisNano += cost;
    s.totalNano += cost;
    s.inputTokens += input;
    s.outputTokens += output;
    s.cacheReadTokens += c.cacheReadTokens[i] as bigint;
    spend(ns, sid, cost);
    const item = c.model[i] ?? c.toolName[i] ?? c.apiHost[i] ?? '';
    const r = rollup(at, ns, c.tagSet[i] as number, kind, item);
    r.costNano += cost;
    r.calls += 1n;
    r.inputTokens += input;
    r.outputTokens += output;
  }
  for (const share of pull.infra) {
    const s = session(share.namespace, share.sessionId, share.atNs);
    s.infraNano += share.nano;
    s.totalNano += share.nano;
    s.cpuNs += share.cpuNs;
    s.memoryByteSeconds += share.memoryByteSeconds;
    spend(share.namespace, share.sessionId, share.nano);
    rollup(share.atNs, share.namespace, share.tagSet, 'infra', '').costNano += share.nano;
  }
  return {
    sessions: [...sessions.values()],
    budgets: [...budgets.values()],
    rollups: [...rollups.values()],
  };
}
