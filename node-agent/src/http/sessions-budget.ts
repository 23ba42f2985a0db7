// Sessions the operator found over budget (a Session-scope budget with action Suspend). The
// agent's /v1/sessions API reports `overBudget` from this set so an agent runtime can stop
// itself; the operator clears the mark when the period rolls over or the budget is raised.
import { Router } from 'express';
import type { Request, Response } from 'express';
import { requireAccess, type Authorize } from '@agentmeter/kube-client/access';
import { validSessionPath } from './sessions-api.ts';

export class OverBudgetSessions {
  readonly #keys = new Set<string>();
  static key(namespace: string, id: string): string {
    return `${namespace}/${id}`;
  }
  has(namespace: string, id: string): boolean {
    return this.#keys.has(OverBudgetSessions.key(namespace, id));
  }
  set(namespace: string, id: string, over: boolean): void {
    const key = OverBudgetSessions.key(namespace, id);
    if (over) this.#keys.add(key);
    else this.#keys.delete(key);
  }
  list(): { namespace: string; id: string }[] {
    return [...this.#keys].sort().map((k) => {
      const i = k.indexOf('/');
      return { namespace: k.slice(0, i), id: k.slice(i + 1) };
    });
  }
}

export interface SessionsBudgetRouterOptions {
  readonly sessions: OverBudgetSessions;
  /** The operator's check (auth.ts): changing a mark and listing them all. */
  readonly authorize?: Authorize;
  /** Reading one session's mark: its namespace's callers (session-access.ts). */
  readonly readSession?: Authorize;
}

/**
 * POST marks, DELETE clears /v1/sessions/:namespace/:id/over-budget; GET reads the mark.
 * GET /v1/sessions-over-budget lists every mark, so an operator that failed over can reconcile.
 */
export function createSessionsBudgetRouter(options: SessionsBudgetRouterOptions): Router {
  const { sessions } = options;
  const operator = requireAccess(options.authorize);
  const router = Router();
  const path = '/v1/sessions/:namespace/:id/over-budget';
  const handle = (over: boolean | null) => (req: Request, res: Response) => {
    const { namespace, id } = req.params as { namespace: string; id: string };
    if (over !== null) sessions.set(namespace, id, over);
    res.status(200).json({ namespace, id, overBudget: sessions.has(namespace, id) });
  };
  router.get('/v1/sessions-over-budget', operator, (_req, res) => {
    res.status(200).json({ sessions: sessions.list() });
  });
  // Reading the mark is for the session's own runtime; changing it is for the operator.
  router.get(path, validSessionPath, requireAccess(options.readSession), handle(null));
  router.post(path, operator, validSessionPath, handle(true));
  router.delete(path, operator, validSessionPath, handle(false));
  return router;
}
