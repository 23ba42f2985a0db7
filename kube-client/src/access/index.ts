// Who may call an agentmeter HTTP API: a bearer token the apiserver authenticates
// (TokenReview) for a user it allows (SubjectAccessReview), checked under bounds of review rate
// and cached. Shared by the node agent's and the operator's APIs, so both refuse alike.
export { AccessRefused, bearerToken, requireAccess, sendRefusal } from './access.ts';
export type { Authorize } from './access.ts';
export { TokenReviewer, tokenUser } from './token-review.ts';
export type { ResourceAccess, ReviewedUser, TokenReviewerOptions } from './token-review.ts';

/** `get sessions.agentmeter.dev` in a namespace: who may read that namespace's sessions, from
 * the agent on its node or from the operator across the cluster. */
export const SESSION_ACCESS = {
  group: 'agentmeter.dev',
  resource: 'sessions',
  verb: 'get',
} as const;
