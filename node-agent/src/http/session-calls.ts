// GET /v1/sessions/{namespace}/{id}/calls: the session's calls on this node as a tree by trace
// and parent span, each with its cost, and the session's infrastructure share from the same
// ledger entries (so over the same time): total = infrastructure + Σ calls, exactly.
import { formatMoney, type CallRecord, type LedgerEntry, type SessionRef } from '@agentmeter/crds';

export interface CallNode {
  readonly call: CallRecord;
  readonly currency: string | null;
  readonly children: CallNode[];
}

export interface SessionCalls {
  readonly traces: { readonly traceId: string; readonly calls: CallNode[] }[];
  readonly infraNano: Map<string, bigint>;
  readonly callsNano: Map<string, bigint>;
  readonly calls: number;
}

function add(map: Map<string, bigint>, key: string, by: bigint): void {
  map.set(key, (map.get(key) ?? 0n) + by);
}

function same(a: SessionRef | null, b: SessionRef): boolean {
  return a !== null && a.namespace === b.namespace && a.id === b.id;
}

function byStart(a: CallNode, b: CallNode): number {
  const x = BigInt(a.call.start);
  const y = BigInt(b.call.start);
  if (x !== y) return x < y ? -1 : 1;
  return a.call.spanId < b.call.spanId ? -1 : a.call.spanId > b.call.spanId ? 1 : 0;
}

function sortTree(nodes: CallNode[]): CallNode[] {
  nodes.sort(byStart);
  for (const n of nodes) sortTree(n.children);
  return nodes;
}

/** The session's calls and infrastructure share in `entries` (any order, other sessions too). */
export function sessionCalls(session: SessionRef, entries: readonly LedgerEntry[]): SessionCalls {
  const infraNano = new Map<string, bigint>();
  const callsNano = new Map<string, bigint>();
  const byTrace = new Map<string, Map<string, CallNode>>();
  let calls = 0;
  for (const entry of entries) {
    if (entry.kind === 'pod-usage' && entry.cost !== null) {
      for (const share of entry.cost.bySession) {
        if (same(share.session, session))
          add(infraNano, entry.cost.currency, BigInt(share.totalNano));
      }
    }
    if (entry.kind !== 'calls' || !same(entry.session, session)) continue;
    const currency = entry.cost?.currency ?? null;
    for (const call of entry.calls) {
      let trace = byTrace.get(call.traceId);
      if (trace === undefined) {
        trace = new Map();
        byTrace.set(call.traceId, trace);
      }
      trace.set(call.spanId, { call, currency, children: [] });
      calls++;
      if (call.costNano !== null && currency !== null)
        add(callsNano, currency, BigInt(call.costNano));
    }
  }
  const traces = [...byTrace]
    .map(([traceId, nodes]) => {
      const roots: CallNode[] = [];
      for (const node of nodes.values()) {
        const parent =
          node.call.parentSpanId === null ? undefined : nodes.get(node.call.parentSpanId);
        if (parent === undefined) roots.push(node);
        else parent.children.push(node);
      }
      return { traceId, calls: sortTree(roots) };
    })
    .sort((a, b) => byStart(a.calls[0] as CallNode, b.calls[0] as CallNode));
  return { traces, infraNano, callsNano, calls };
}

function money(map: ReadonlyMap<string, bigint>): Record<string, string> {
  return Object.fromEntries(
    [...map].sort(([a], [b]) => (a < b ? -1 : 1)).map(([c, n]) => [c, formatMoney(n)]),
  );
}

function nodeView(node: CallNode): unknown {
  // The record as the ledger holds it, its cost in the entry's currency, then its children.
  const { traceId: _trace, costNano, ...call } = node.call;
  return {
    ...call,
    cost:
      costNano === null || node.currency === null
        ? null
        : { [node.currency]: formatMoney(BigInt(costNano)) },
    children: node.children.map(nodeView),
  };
}

export function sessionCallsView(
  session: SessionRef,
  found: SessionCalls,
  coverage: { readonly node: string; readonly ledgerSeq: bigint; readonly complete: boolean },
): unknown {
  const total = new Map(found.infraNano);
  for (const [c, n] of found.callsNano) add(total, c, n);
  return {
    session,
    node: coverage.node,
    ledgerSeq: coverage.ledgerSeq.toString(),
    // false: the oldest entries of the session are no longer on this node (compacted, or past
    // the book's bound); calls and infrastructure then both cover only the rest.
    complete: coverage.complete,
    calls: String(found.calls),
    traces: found.traces.map((t) => ({ traceId: t.traceId, calls: t.calls.map(nodeView) })),
    cost: {
      infrastructure: money(found.infraNano),
      calls: money(found.callsNano),
      total: money(total),
    },
  };
}
