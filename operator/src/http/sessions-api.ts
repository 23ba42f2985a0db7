// The operator's session API: `GET /v1/sessions/{namespace}/{id}`, what a session cost on every
// node under every policy, from the store. Who may call it is the agent's rule for bearer
// tokens (@agentmeter/kube-client/access): a token the apiserver authenticates (TokenReview,
// audience agentmeter) whose user may `get` `sessions.agentmeter.dev` in that namespace
// (SubjectAccessReview), so a tenant reads only its own namespaces. There is no pod-address
// path: the operator runs on no tenant's node.
import { Router, type Request } from 'express';
import { formatMoney } from '@agentmeter/crds';
import {
  requireAccess,
  SESSION_ACCESS,
  tokenUser,
  type Authorize,
  type TokenReviewer,
} from '@agentmeter/kube-client/access';
import type { AccountingStore, SessionRecord } from '../store/accounting.ts';

const iso = (ns: bigint): string => new Date(Number(ns / 1_000_000n)).toISOString();

function sessionBody(policy: string, s: SessionRecord) {
  return {
    policy,
    cost: {
      total: formatMoney(s.totalNano),
      infrastructure: formatMoney(s.infraNano),
      tokens: formatMoney(s.tokensNano),
      tools: formatMoney(s.toolsNano),
      apis: formatMoney(s.apisNano),
    },
    calls: s.calls.toString(),
    unpricedCalls: s.unpricedCalls.toString(),
    inputTokens: s.inputTokens.toString(),
    outputTokens: s.outputTokens.toString(),
    first: iso(s.firstNs),
    last: iso(s.lastNs),
  };
}

/** Callers allowed to get sessions.agentmeter.dev in the route's namespace. */
export function sessionTokenAccess(reviewer: TokenReviewer): Authorize {
  return async (req: Request) => {
    const namespace = (req.params as { namespace?: string }).namespace ?? '';
    const source = req.socket.remoteAddress ?? '';
    const user = await tokenUser(reviewer, req, source);
    return reviewer.allows(user, { ...SESSION_ACCESS, namespace }, source);
  };
}

export function sessionsRouter(store: AccountingStore, access: Authorize): Router {
  const router = Router();
  router.get('/v1/sessions/:namespace/:id', requireAccess(access), async (req, res, next) => {
    const { namespace = '', id = '' } = req.params as { namespace?: string; id?: string };
    try {
      const found = await store.sessionPolicies(namespace, id);
      if (found.length === 0) {
        res.status(404).json({ error: `no spend of session ${namespace}/${id} in the store` });
        return;
      }
      res.json({
        namespace,
        id,
        policies: found.map((f) => sessionBody(f.policy, f.session)),
      });
    } catch (err) {
      next(err);
    }
  });
  return router;
}
