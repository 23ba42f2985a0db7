import { describe, expect, it } from 'vitest';
import type { RestClient } from '../rest-client.ts';
import { AccessRefused } from './access.ts';
import { TokenReviewer } from './token-review.ts';

/** An apiserver that knows one good token ("good"), whose user may do everything. */
function fakeApiserver() {
  const calls: string[] = [];
  const client = {
    async request(_method: string, path: string, options: { body: { spec: { token?: string } } }) {
      if (path.endsWith('/tokenreviews')) {
        calls.push(`token:${options.body.spec.token ?? ''}`);
        const ok = options.body.spec.token === 'good';
        return {
          status: ok
            ? {
                authenticated: true,
                user: { username: 'op', groups: [] },
                audiences: ['agentmeter'],
              }
            : { authenticated: false },
        };
      }
      calls.push('access');
      return { status: { allowed: true } };
    },
  } as unknown as RestClient;
  return { client, calls };
}

describe('TokenReviewer', () => {
  it('bounds reviews per source: past the burst it refuses with 429 without asking', async () => {
    let now = 0;
    const { client, calls } = fakeApiserver();
    const reviewer = new TokenReviewer({
      client,
      perSource: { perSecond: 1, burst: 3 },
      overall: { perSecond: 100, burst: 100 },
      now: () => now,
    });
    for (let i = 0; i < 3; i++)
      expect(await reviewer.authenticate(`bad-${i}`, '10.0.0.1')).toBe(null);
    const refused = await reviewer.authenticate('bad-3', '10.0.0.1').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AccessRefused);
    expect((refused as AccessRefused).status).toBe(429);
    expect((refused as AccessRefused).retryAfterSeconds).toBeCloseTo(1);
    expect(calls).toHaveLength(3);
    // Another source has its own bucket; this one refills with time.
    expect(await reviewer.authenticate('bad-4', '10.0.0.2')).toBe(null);
    now += 1000;
    expect(await reviewer.authenticate('bad-5', '10.0.0.1')).toBe(null);
    expect(calls).toHaveLength(5);
  });

  it('bounds reviews overall across sources', async () => {
    const { client, calls } = fakeApiserver();
    const reviewer = new TokenReviewer({
      client,
      perSource: { perSecond: 100, burst: 100 },
      overall: { perSecond: 1, burst: 5 },
      now: () => 0,
    });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        reviewer.authenticate(`bad-${i}`, `10.0.1.${i}`).catch((e: unknown) => e),
      ),
    );
    expect(calls).toHaveLength(5);
    expect(results.filter((r) => r instanceof AccessRefused && r.status === 429)).toHaveLength(15);
  });

  it('keeps a passed token cached through any flood of unknown tokens', async () => {
    let now = 0;
    const { client, calls } = fakeApiserver();
    const reviewer = new TokenReviewer({
      client,
      perSource: { perSecond: 1e6, burst: 1e6 },
      overall: { perSecond: 1e6, burst: 1e6 },
      negativeCacheSize: 16,
      now: () => now,
    });
    expect(await reviewer.authenticate('good', 'operator')).toMatchObject({ username: 'op' });
    for (let i = 0; i < 5000; i++) await reviewer.authenticate(`garbage-${i}`, 'attacker');
    now += 30_000;
    calls.length = 0;
    expect(await reviewer.authenticate('good', 'operator')).toMatchObject({ username: 'op' });
    expect(calls).toEqual([]);
    // Access answers are cached apart too.
    const user = { username: 'op', groups: [] };
    const access = { group: 'agentmeter.dev', resource: 'ledgers', verb: 'get' };
    expect(await reviewer.allows(user, access, 'operator')).toBe(true);
    expect(await reviewer.allows(user, access, 'operator')).toBe(true);
    expect(calls).toEqual(['access']);
  });

  it('answers 403 and caches nothing when the apiserver cannot answer', async () => {
    let fail = true;
    const client = {
      async request() {
        if (fail) throw new Error('connection refused');
        return { status: { authenticated: true, user: { username: 'op' } } };
      },
    } as unknown as RestClient;
    const reviewer = new TokenReviewer({ client });
    const err = await reviewer.authenticate('good', 'a').catch((e: unknown) => e);
    expect((err as AccessRefused).status).toBe(403);
    fail = false;
    expect(await reviewer.authenticate('good', 'a')).toMatchObject({ username: 'op' });
  });

  it('shares one review among concurrent requests asking the same question', async () => {
    let now = 0;
    const { client, calls } = fakeApiserver();
    // A per-source burst below the requests fired at once: were each to spend a review, the last
    // would be refused with 429 when the cached answer expires.
    const reviewer = new TokenReviewer({
      client,
      cacheTtlMs: 60_000,
      perSource: { perSecond: 0.001, burst: 4 },
      overall: { perSecond: 100, burst: 100 },
      now: () => now,
    });
    const access = { group: 'agentmeter.dev', resource: 'sessions', verb: 'get', namespace: 'a' };
    const ask = () =>
      reviewer
        .authenticate('good', '10.0.0.1')
        .then((user) => (user === null ? false : reviewer.allows(user, access, '10.0.0.1')));
    for (const round of [0, 1]) {
      const answers = await Promise.all(Array.from({ length: 6 }, ask));
      expect(answers).toEqual(Array.from({ length: 6 }, () => true));
      expect(calls).toEqual(
        Array.from({ length: round + 1 }, () => ['token:good', 'access']).flat(),
      );
      now += 61_000;
    }
  });
});
