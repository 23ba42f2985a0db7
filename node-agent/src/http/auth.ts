// Who may call the agent's operator API (ledger pull, ack, session budget marks): a bearer
// token the apiserver authenticates for our audience (TokenReview), whose user may `get`
// `ledgers.agentmeter.dev` (SubjectAccessReview). No such resource is served; the rule exists
// only in the operator's ClusterRole, so only the operator's ServiceAccount passes.
import { createHash } from 'node:crypto';
import type { V1SubjectAccessReview, V1TokenReview } from '@kubernetes/client-node';
import type { Request } from 'express';
import type { InformerLogger, RestClient } from '@agentmeter/kube-client';

export const LEDGER_ACCESS = { group: 'agentmeter.dev', resource: 'ledgers', verb: 'get' } as const;

export interface TokenReviewAuthorizerOptions {
  readonly client: RestClient;
  /** Audience the token must be issued for; default "agentmeter". */
  readonly audience?: string;
  /** How long an answer (yes or no) is reused for the same token; default 60 s. */
  readonly cacheTtlMs?: number;
  /** Bound of the answer cache; oldest answers go first. */
  readonly cacheSize?: number;
  readonly logger?: InformerLogger;
  readonly now?: () => number;
}

export type Authorize = (req: Request) => Promise<boolean>;

export function bearerToken(req: Request): string | undefined {
  const header = req.headers.authorization;
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

export function createTokenReviewAuthorizer(options: TokenReviewAuthorizerOptions): Authorize {
  const client = options.client;
  const audience = options.audience ?? 'agentmeter';
  const ttl = options.cacheTtlMs ?? 60_000;
  const size = options.cacheSize ?? 256;
  const now = options.now ?? Date.now;
  // Keyed by a hash so tokens are never kept in memory longer than a request.
  const cache = new Map<string, { allowed: boolean; until: number }>();

  async function review(token: string): Promise<boolean> {
    const tr = await client.request<V1TokenReview>(
      'POST',
      '/apis/authentication.k8s.io/v1/tokenreviews',
      {
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: { token, audiences: [audience] },
        },
      },
    );
    const status = tr.status;
    if (!status?.authenticated || !status.user?.username) return false;
    // A token for another audience must not pass even if the apiserver accepted it for its own.
    if (status.audiences !== undefined && !status.audiences.includes(audience)) return false;
    const user = status.user;
    const sar = await client.request<V1SubjectAccessReview>(
      'POST',
      '/apis/authorization.k8s.io/v1/subjectaccessreviews',
      {
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: user.username,
            ...(user.uid === undefined ? {} : { uid: user.uid }),
            groups: user.groups ?? [],
            ...(user.extra === undefined ? {} : { extra: user.extra }),
            resourceAttributes: { ...LEDGER_ACCESS },
          },
        },
      },
    );
    return sar.status?.allowed === true && sar.status.denied !== true;
  }

  return async (req) => {
    const token = bearerToken(req);
    if (token === undefined) return false;
    const key = createHash('sha256').update(token).digest('hex');
    const hit = cache.get(key);
    if (hit !== undefined && hit.until > now()) return hit.allowed;
    let allowed: boolean;
    try {
      allowed = await review(token);
    } catch (err) {
      // The apiserver could not answer: refuse this request, cache nothing.
      options.logger?.warn({ err: (err as Error).message }, 'token review failed');
      return false;
    }
    cache.delete(key);
    cache.set(key, { allowed, until: now() + ttl });
    while (cache.size > size) cache.delete(cache.keys().next().value as string);
    return allowed;
  };
}
