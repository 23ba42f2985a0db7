// GET /v1/sessions/{namespace}/{id}: one session's usage, tokens and cost so far on this node.
// Per-session detail lives here and in the ledger, never in metric labels (invariant 7).
import { Router, type NextFunction, type Request, type Response } from 'express';
import { formatMoney, usageToWire } from '@agentmeter/crds';
import type { SessionBook, SessionRecord } from './session-book.ts';
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

export function sessionView(
  record: SessionRecord,
  node: string,
  overBudget: boolean,
  ledgerSeq: bigint,
): unknown {
  const currencies = new Set([...record.infraNano.keys(), ...record.tokenNano.keys()]);
  const total = new Map<string, bigint>();
  for (const c of currencies)
    total.set(c, (record.infraNano.get(c) ?? 0n) + (record.tokenNano.get(c) ?? 0n));
  return {
    session: record.session,
    node,
    firstSeen: record.firstSeenNs.toString(),
    lastSeen: record.lastSeenNs.toString(),
    usage: usageToWire(record.usage),
    tokens: [...record.tokens]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([model, t]) => ({
        model,
        inputTokens: t.inputTokens.toString(),
        outputTokens: t.outputTokens.toString(),
      })),
    cost: {
      infrastructure: moneyByCurrency(record.infraNano),
      tokens: moneyByCurrency(record.tokenNano),
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
}): Router {
  const router = Router();
  const read = [validSessionPath, requireAccess(options.readSession)];
  router.get('/v1/sessions/:namespace/:id', ...read, (req, res) => {
    const { namespace, id } = req.params as { namespace: string; id: string };
    const record = options.book.get(namespace, id);
    if (record === undefined) {
      res
        .status(404)
        .json({ error: `no usage of session ${namespace}/${id} on node ${options.node} yet` });
      return;
    }
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
