// Who may call the agent's operator API (ledger pull, ack, session budget marks): a bearer
// token the apiserver authenticates for our audience (TokenReview), whose user may `get`
// `ledgers.agentmeter.dev` (SubjectAccessReview). No such resource is served; the rule exists
// only in the operator's ClusterRole, so only the operator's ServiceAccount passes.
import type { Request } from 'express';
import { normaliseAddress } from '../sessions/identity.ts';
import { tokenUser, type Authorize, type TokenReviewer } from '@agentmeter/kube-client/access';

export const LEDGER_ACCESS = { group: 'agentmeter.dev', resource: 'ledgers', verb: 'get' } as const;

/** The connection's source address, the key of the per-source review bound. */
export function sourceAddress(req: Request): string {
  return normaliseAddress(req.socket.remoteAddress ?? '');
}

export function operatorAccess(reviewer: TokenReviewer): Authorize {
  return async (req) => {
    const source = sourceAddress(req);
    return reviewer.allows(await tokenUser(reviewer, req, source), LEDGER_ACCESS, source);
  };
}
