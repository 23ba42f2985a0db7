// Asks the apiserver who a bearer token is (TokenReview) and what that user may do
// (SubjectAccessReview), without letting callers turn those questions against the apiserver:
// - every review that reaches the apiserver spends from a bucket of its source address and from
//   one overall bucket; past either, the caller gets AccessRefused(429) and nothing is asked;
// - answers are cached per outcome: tokens and grants that passed in caches of their own, sized
//   above what the overall bucket can fill in one TTL, so no flood of unknown or failing tokens
//   (which go to a separate negative cache) can evict an answer that passed;
// - concurrent requests with the same question share one review in flight, so a client that
//   fires several requests at once when its answer expires spends one review, not one each.
import { createHash } from 'node:crypto';
import type { V1SubjectAccessReview, V1TokenReview } from '@kubernetes/client-node';
import type { Request } from 'express';
import type { InformerLogger } from '../informer.ts';
import type { RestClient } from '../rest-client.ts';
import { AccessRefused, bearerToken } from './access.ts';
import { RateBuckets, type BucketRate } from './rate-bucket.ts';
import { TtlCache } from './ttl-cache.ts';

export interface ReviewedUser {
  readonly username: string;
  readonly uid?: string;
  readonly groups: readonly string[];
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

export interface ResourceAccess {
  readonly group: string;
  readonly resource: string;
  readonly verb: string;
  readonly namespace?: string;
}

/** Bounded labels for the reviews counter: which review, and what came of it. */
export type ReviewKind = 'token' | 'access';
export type ReviewOutcome = 'allowed' | 'denied' | 'error' | 'throttled';

export interface TokenReviewerOptions {
  readonly client: RestClient;
  /** Audience the token must be issued for; default "agentmeter". */
  readonly audience?: string;
  /** How long an answer (yes or no) is reused; default 60 s. */
  readonly cacheTtlMs?: number;
  /** Reviews per source address; default 2/s, burst 10. */
  readonly perSource?: BucketRate;
  /** Reviews overall; default 10/s, burst 40. */
  readonly overall?: BucketRate;
  /** Entries of each negative cache; default 1024. */
  readonly negativeCacheSize?: number;
  readonly logger?: InformerLogger;
  readonly now?: () => number;
  /** Each review asked, refused by the bound, or failed (for metrics). */
  readonly onReview?: (kind: ReviewKind, outcome: ReviewOutcome) => void;
}

export const DEFAULT_PER_SOURCE: BucketRate = { perSecond: 2, burst: 10 };
export const DEFAULT_OVERALL: BucketRate = { perSecond: 10, burst: 40 };
const OVERALL_KEY = '';

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export class TokenReviewer {
  readonly #client: RestClient;
  readonly #audience: string;
  readonly #perSource: RateBuckets;
  readonly #overall: RateBuckets;
  readonly #passed: TtlCache<ReviewedUser>;
  readonly #failed: TtlCache<true>;
  readonly #granted: TtlCache<true>;
  readonly #refused: TtlCache<true>;
  readonly #inFlight = new Map<string, Promise<unknown>>();
  readonly #options: TokenReviewerOptions;

  constructor(options: TokenReviewerOptions) {
    this.#options = options;
    this.#client = options.client;
    this.#audience = options.audience ?? 'agentmeter';
    const now = options.now ?? Date.now;
    const ttlMs = options.cacheTtlMs ?? 60_000;
    const overall = options.overall ?? DEFAULT_OVERALL;
    this.#perSource = new RateBuckets(options.perSource ?? DEFAULT_PER_SOURCE, { now });
    this.#overall = new RateBuckets(overall, { now });
    // The most answers the overall bucket lets through within one TTL: a positive cache of this
    // size never has to drop a live answer.
    const positive = Math.ceil(overall.burst + (overall.perSecond * ttlMs) / 1000);
    const negative = options.negativeCacheSize ?? 1024;
    this.#passed = new TtlCache({ size: positive, ttlMs, now });
    this.#granted = new TtlCache({ size: positive, ttlMs, now });
    this.#failed = new TtlCache({ size: negative, ttlMs, now });
    this.#refused = new TtlCache({ size: negative, ttlMs, now });
  }

  /** Spends one review from `source`'s and the overall bucket, or refuses with 429. */
  #admit(kind: ReviewKind, source: string): void {
    const wait = Math.max(this.#perSource.wait(source), this.#overall.wait(OVERALL_KEY));
    if (wait > 0) {
      this.#options.onReview?.(kind, 'throttled');
      throw new AccessRefused(429, 'too many token checks; retry later', wait);
    }
    this.#perSource.spend(source);
    this.#overall.spend(OVERALL_KEY);
  }

  /** Joins the review of `key` already in flight, or starts `review` as that review. */
  #shared<T>(key: string, review: () => Promise<T>): Promise<T> {
    const pending = this.#inFlight.get(key);
    if (pending !== undefined) return pending as Promise<T>;
    const started = review().finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, started);
    return started;
  }

  /** The user a token belongs to, or null when the apiserver does not accept it for our audience. */
  async authenticate(token: string, source: string): Promise<ReviewedUser | null> {
    const key = hash(token);
    const known = this.#passed.get(key);
    if (known !== undefined) return known;
    if (this.#failed.get(key) !== undefined) return null;
    return this.#shared(`token:${key}`, () => this.#reviewToken(token, key, source));
  }

  async #reviewToken(token: string, key: string, source: string): Promise<ReviewedUser | null> {
    this.#admit('token', source);
    let user: ReviewedUser | null;
    try {
      user = await this.#tokenReview(token);
    } catch (err) {
      // The apiserver could not answer: refuse this request, cache nothing.
      this.#options.onReview?.('token', 'error');
      this.#options.logger?.warn({ err: (err as Error).message }, 'token review failed');
      throw new AccessRefused(403, 'the token could not be checked now');
    }
    this.#options.onReview?.('token', user === null ? 'denied' : 'allowed');
    if (user === null) this.#failed.set(key, true);
    else this.#passed.set(key, user);
    return user;
  }

  /** Whether `user` may do `access` (SubjectAccessReview), cached per user and attributes. */
  async allows(user: ReviewedUser, access: ResourceAccess, source: string): Promise<boolean> {
    const key = hash(JSON.stringify([user.username, user.uid ?? '', user.groups, access]));
    if (this.#granted.get(key) !== undefined) return true;
    if (this.#refused.get(key) !== undefined) return false;
    return this.#shared(`access:${key}`, () => this.#reviewAccess(user, access, key, source));
  }

  async #reviewAccess(
    user: ReviewedUser,
    access: ResourceAccess,
    key: string,
    source: string,
  ): Promise<boolean> {
    this.#admit('access', source);
    let allowed: boolean;
    try {
      allowed = await this.#accessReview(user, access);
    } catch (err) {
      this.#options.onReview?.('access', 'error');
      this.#options.logger?.warn({ err: (err as Error).message }, 'access review failed');
      throw new AccessRefused(403, 'access could not be checked now');
    }
    this.#options.onReview?.('access', allowed ? 'allowed' : 'denied');
    (allowed ? this.#granted : this.#refused).set(key, true);
    return allowed;
  }

  async #tokenReview(token: string): Promise<ReviewedUser | null> {
    const tr = await this.#client.request<V1TokenReview>(
      'POST',
      '/apis/authentication.k8s.io/v1/tokenreviews',
      {
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: { token, audiences: [this.#audience] },
        },
      },
    );
    const status = tr.status;
    if (!status?.authenticated || !status.user?.username) return null;
    // A token for another audience must not pass even if the apiserver accepted it for its own.
    if (status.audiences !== undefined && !status.audiences.includes(this.#audience)) return null;
    const user = status.user;
    return {
      username: user.username as string,
      ...(user.uid === undefined ? {} : { uid: user.uid }),
      groups: user.groups ?? [],
      ...(user.extra === undefined ? {} : { extra: user.extra }),
    };
  }

  async #accessReview(user: ReviewedUser, access: ResourceAccess): Promise<boolean> {
    const sar = await this.#client.request<V1SubjectAccessReview>(
      'POST',
      '/apis/authorization.k8s.io/v1/subjectaccessreviews',
      {
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: user.username,
            ...(user.uid === undefined ? {} : { uid: user.uid }),
            groups: user.groups,
            ...(user.extra === undefined ? {} : { extra: user.extra }),
            resourceAttributes: { ...access },
          },
        },
      },
    );
    return sar.status?.allowed === true && sar.status.denied !== true;
  }
}

/** The user behind the request's bearer token; 401 without one or when the apiserver refuses it.
 * `source` is the caller's address, the key of the per-source review bound. */
export async function tokenUser(
  reviewer: TokenReviewer,
  req: Request,
  source: string,
): Promise<ReviewedUser> {
  const token = bearerToken(req);
  if (token === undefined) throw new AccessRefused(401, 'a bearer token is required');
  const user = await reviewer.authenticate(token, source);
  if (user === null) throw new AccessRefused(401, 'the bearer token was not accepted');
  return user;
}
