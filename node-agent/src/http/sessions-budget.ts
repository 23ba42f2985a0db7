// Sessions the operator found over budget (a Session-scope budget with action Suspend). The
// agent's /v1/sessions API reports `overBudget` from this set so an agent runtime can stop
// itself; the operator clears the mark when the period rolls over or the budget is raised.
import { Router } from 'express';
import type { Request, Response } from 'express';

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
  readonly authorize?: (req: Request) => Promise<boolean>;
}

/**
 * POST marks, DELETE clears /v1/sessions/:namespace/:id/over-budget; GET reads the mark.
 * GET /v1/sessions-over-budget lists every mark, so an operator that failed over can reconcile.
 */
export function createSessionsBudgetRouter(options: SessionsBudgetRouterOptions): Router {
  const { sessions, authorize } = options;
  const router = Router();
  const path = '/v1/sessions/:namespace/:id/over-budget';
  const handle = (over: boolean | null) => async (req: Request, res: Response) => {
    // Reading the mark is for the session's own runtime; changing it is for the operator.
    if (over !== null && authorize && !(await authorize(req))) {
      res.status(403).json({ error: 'forbidden' });
      return;
    }
    const { namespace, id } = req.params as { namespace: string; id: string };
    if (over !== null) sessions.set(namespace, id, over);
    res.status(200).json({ namespace, id, overBudget: sessions.has(namespace, id) });
  };
  router.get('/v1/sessions-over-budget', async (req, res) => {
    if (authorize && !(await authorize(req))) {
      res.status(403).json({ error: 'forbidden' });
      return;
    }
    res.status(200).json({ sessions: sessions.list() });
  });
  router.get(path, handle(null));
  router.post(path, handle(true));
  router.delete(path, handle(false));
  return router;
}
