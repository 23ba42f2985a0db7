// Who may read a session (`/v1/sessions/{namespace}/...`): only callers proven to belong to that
// namespace. Either the connection comes from a live pod of that namespace on this node (its
// source address, as the OTLP receiver checks spans), or its bearer token belongs to a user a
// SubjectAccessReview allows to `get` `sessions.agentmeter.dev` in that namespace (the chart's
// session-reader ClusterRole, bound per namespace; the operator has it cluster-wide).
// Any session route takes this as middleware: router.get(path, requireAccess(reader), handler).
import { identifySource, type PodDirectory } from '../sessions/identity.ts';
import {
  AccessRefused,
  bearerToken,
  SESSION_ACCESS,
  tokenUser,
  type Authorize,
  type TokenReviewer,
} from '@agentmeter/kube-client/access';
import { sourceAddress } from './auth.ts';

export interface SessionReaderOptions {
  readonly pods: Pick<PodDirectory, 'podsByIp'>;
  readonly reviewer: TokenReviewer;
}

/** Reads the namespace from the route's `:namespace` parameter. */
export function sessionReaderAccess(options: SessionReaderOptions): Authorize {
  const { pods, reviewer } = options;
  return async (req) => {
    const namespace = (req.params as { namespace?: string }).namespace ?? '';
    const source = identifySource(sourceAddress(req), pods);
    if (source.kind === 'verified' && source.pod.namespace === namespace) return true;
    if (bearerToken(req) === undefined) {
      throw new AccessRefused(
        403,
        `sessions of ${namespace} are for its pods on this node, or a bearer token allowed to get sessions.agentmeter.dev in ${namespace}`,
      );
    }
    const address = sourceAddress(req);
    const user = await tokenUser(reviewer, req, address);
    return reviewer.allows(user, { ...SESSION_ACCESS, namespace }, address);
  };
}
