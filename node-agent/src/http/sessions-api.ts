// GET /v1/sessions/{namespace}/{id}: one session's usage, calls and cost so far on this node:
// infrastructure plus every model, tool and API call, the total their exact sum.
// Per-session detail lives here and in the ledger, never in metric labels (invariant 7).
import { Router, type NextFunction, type Request, type Response } from 'express';
import { formatMoney, usageToWire, type LedgerEntry } from '@agentmeter/crds';
import { sessionCalls, sessionCallsView } from './session-calls.ts';
import type { CallSums, SessionBook, SessionRecord } from './session-book.ts';
import { isValidSessionId } from '../sessions/index.ts';
import { requireAccess, type Authorize } from '@agentmeter/kube-client/access';

const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function moneyByCurrency(map: ReadonlyMap<string, bigint>): Record<string, string> {
  return Object.fromEntries(
    [...map].sort(([a], [b]) => (a < b ? -1 : 1)).map(([c, n]) => [c, formatMoney(n)]),
  );
}

/** Route middleware: a 400 for a malformed namespace or session id, before any access check
 * spends an apiserver review on it. */
export function validSessionPath(req: Request, res: Response, next: NextFunction): void {
  const { namespace, id } = req.params as { namespace?: string; id?: string };
  if (
    namespace === undefined ||
    !NAMESPACE.test(namespace) ||
    namespace.length > 63 ||
    id === undefined ||
    !isValidSessionId(id)
  ) {
    res
      .status(400)
      .json({ error: 'namespace must be a DNS label and id match [A-Za-z0-9._:-]{1,128}' });
    return;
  }
  next();
}

function sorted<T>(map: ReadonlyMap<string, T>): [string, T][] {
  return [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function sumCost(byName: ReadonlyMap<string, CallSums>): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const sums of byName.values())
    for (const [c, n] of sums.costNano) out.set(c, (out.get(c) ?? 0n) + n);
  return out;
}

function callsView(sums: CallSums): { calls: string; unpricedCalls: string; cost: unknown } {
  return {
    calls: sums.calls.toString(),
    unpricedCalls: sums.unpriced.toString(),
    cost: moneyByCurrency(sums.costNano),
  };
}

export function sessionView(
  record: SessionRecord,
  node: string,
  overBudget: boolean,
  ledgerSeq: bigint,
): unknown {
  const tokens = sumCost(record.calls.model);
  const tools = sumCost(record.calls.tool);
  const apis = sumCost(record.calls.api);
  const currencies = new Set([...record.infraNano.keys(), ...record.callNano.keys()]);
  const total = new Map<string, bigint>();
  for (const c of currencies)
    total.set(c, (record.infraNano.get(c) ?? 0n) + (record.callNano.get(c) ?? 0n));
  return {
    session: record.session,
    node,
    firstSeen: record.firstSeenNs.toString(),
    lastSeen: record.lastSeenNs.toString(),
    usage: usageToWire(record.usage),
    tokens: sorted(record.tokens).map(([model, t]) => {
      const sums = record.calls.model.get(model);
      return {
        model,
        inputTokens: t.inputTokens.toString(),
        outputTokens: t.outputTokens.toString(),
        cacheReadTokens: t.cacheReadTokens.toString(),
        cacheCreationTokens: t.cacheCreationTokens.toString(),
        reasoningTokens: t.reasoningTokens.toString(),
        ...(sums === undefined ? {} : callsView(sums)),
      };
    }),
    tools: sorted(record.calls.tool).map(([name, sums]) => ({ name, ...callsView(sums) })),
    apis: sorted(record.calls.api).map(([host, sums]) => ({ host, ...callsView(sums) })),
    cost: {
      infrastructure: moneyByCurrency(record.infraNano),
      tokens: moneyByCurrency(tokens),
      tools: moneyByCurrency(tools),
      apis: moneyByCurrency(apis),
      total: moneyByCurrency(total),
    },
    pods: [...record.pods].map(([uid, p]) => ({ uid, namespace: p.namespace, name: p.name })),
    overBudget,
    // The view sums this node's ledger up to this seq: a reader compares at one position.
    ledgerSeq: ledgerSeq.toString(),
  };
}

export function sessionsRouter(options: {
  book: SessionBook;
  node: string;
  isOverBudget?: (namespace: string, id: string) => boolean;
  /** Who may read the namespace's sessions (session-access.ts); none lets every caller on. */
  readSession?: Authorize;
  /** Ledger entries by seq (ledger/read-seqs.ts), for the calls route. */
  readEntries?: (seqs: readonly number[]) => Promise<{ entries: LedgerEntry[]; missing: number }>;
}): Router {
  const router = Router();
  const read = [validSessionPath, requireAccess(options.readSession)];
  const notFound = (res: Response, namespace: string, id: string) =>
    res
      .status(404)
      .json({ error: `no usage of session ${namespace}/${id} on node ${options.node} yet` });
  const readEntries = options.readEntries;
  if (readEntries !== undefined) {
    // Same access as the session itself: its namespace's pods, or a token allowed to read it.
    router.get('/v1/sessions/:namespace/:id/calls', ...read, async (req, res) => {
      const { namespace, id } = req.params as { namespace: string; id: string };
      const record = options.book.get(namespace, id);
      if (record === undefined) return void notFound(res, namespace, id);
      const ledgerSeq = options.book.ledgerSeq;
      const seqs = [...record.entrySeqs];
      const { entries, missing } = await readEntries(seqs);
      res.json(
        sessionCallsView(record.session, sessionCalls(record.session, entries), {
          node: options.node,
          ledgerSeq,
          complete: missing === 0 && record.droppedEntrySeqs === 0,
        }),
      );
    });
  }
  router.get('/v1/sessions/:namespace/:id', ...read, (req, res) => {
    const { namespace, id } = req.params as { namespace: string; id: string };
    const record = options.book.get(namespace, id);
    if (record === undefined) return void notFound(res, namespace, id);
    res.json(
      sessionView(
        record,
        options.node,
        options.isOverBudget?.(namespace, id) ?? false,
        options.book.ledgerSeq,
      ),
    );
  });
  return router;
}
