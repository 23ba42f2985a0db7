// Who may call the agent's operator API (ledger pull, ack, session budget marks): a bearer
// token the apiserver authenticates for our audience (TokenReview), whose user may `get`
// `ledgers.agentmeter.dev` (SubjectAccessReview). No such resource is served; the rule exists
// only in the operator's ClusterRole, so only the operator's ServiceAccount passes.
import type { Request } from 'express';
import { normaliseAddress } from '../sessions/identity.ts';
import { AccessRefused, bearerToken, type Authorize } from './access.ts';
import type { TokenReviewer } from './token-review.ts';

export const LEDGER_ACCESS = { group: 'agentmeter.dev', resource: 'ledgers', verb: 'get' } as const;

/** The connection's source address, the key of the per-source review bound. */
export function sourceAddress(req: Request): string {
  return normaliseAddress(req.socket.remoteAddress ?? '');
}

/** The user behind the request's bearer token; 401 without one or when the apiserver refuses it. */
export async function tokenUser(reviewer: TokenReviewer, req: Request) {
  const token = bearerToken(req);
  if (token === undefined) throw new AccessRefused(401, 'a bearer token is required');
  const user = await reviewer.authenticate(token, sourceAddress(req));
  if (user === null) throw new AccessRefused(401, 'the bearer token was not accepted');
  return user;
}

export function operatorAccess(reviewer: TokenReviewer): Authorize {
  return async (req) =>
    reviewer.allows(await tokenUser(reviewer, req), LEDGER_ACCESS, sourceAddress(req));
}
