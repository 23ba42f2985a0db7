import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Usage } from '@agentmeter/crds';
import { AgentMetrics } from '../metrics/agent-metrics.ts';
import { AccessRefused } from '@agentmeter/kube-client/access';
import { LEDGER_MAX_LIMIT, createApp, createMetricsApp, listen } from './server.ts';
import type { AppOptions, LedgerReader, Listening } from './server.ts';

/** An in-memory ledger with entries seq first..last. */
function memoryLedger(first: number, last: number): LedgerReader & { calls: [bigint, number][] } {
  const calls: [bigint, number][] = [];
  return {
    calls,
    async readAfter(after, limit) {
      calls.push([after, limit]);
      const out: unknown[] = [];
      for (let s = Math.max(Number(after) + 1, first); s <= last && out.length < limit; s++) {
        out.push({ seq: String(s), kind: 'marker' });
      }
      return out;
    },
    head: () => ({ seq: BigInt(last), hash: 'h'.repeat(64) }),
  };
}

const servers: Listening[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()?.close();
});

async function serve(overrides: Partial<AppOptions> = {}) {
  const metrics = new AgentMetrics();
  const app = createApp({ ledger: memoryLedger(1, 1200), ...overrides });
  const s = await listen(app, '127.0.0.1', 0);
  const m = await listen(createMetricsApp({ metrics }), '127.0.0.1', 0);
  servers.push(s, m);
  const base = `http://127.0.0.1:${s.port}`;
  return {
    metrics,
    get: (path: string, headers: Record<string, string> = {}) =>
      fetch(`${path === '/metrics' ? `http://127.0.0.1:${m.port}` : base}${path}`, { headers }),
    getApi: (path: string) => fetch(base + path),
  };
}

const usage = (cpuNs: bigint, extra: Partial<Usage> = {}): Usage => ({
  cpuNs,
  memoryByteSeconds: 2n ** 60n,
  ioReadBytes: 10n,
  ioWriteBytes: 20n,
  netRxBytes: 30n,
  netTxBytes: 40n,
  ...extra,
});

describe('/metrics', () => {
  it('serves Prometheus text by default and OpenMetrics when asked', async () => {
    const { metrics, get } = await serve();
    metrics.addPodUsage('team-a', 'agent-0', usage(1_500_000_000n));

    const prom = await get('/metrics');
    expect(prom.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const promText = await prom.text();
    expect(promText).toContain('# TYPE agentmeter_pod_cpu_usage_seconds_total counter');
    expect(promText).toContain(
      'agentmeter_pod_cpu_usage_seconds_total{namespace="team-a",pod="agent-0"} 1.5',
    );
    expect(promText).not.toContain('# EOF');

    // What Prometheus itself sends.
    const accept =
      'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
    const om = await get('/metrics', { accept });
    expect(om.headers.get('content-type')).toBe(
      'application/openmetrics-text; version=1.0.0; charset=utf-8',
    );
    const omText = await om.text();
    expect(omText).toContain('# TYPE agentmeter_pod_cpu_usage_seconds counter');
    expect(omText).toContain(
      'agentmeter_pod_cpu_usage_seconds_total{namespace="team-a",pod="agent-0"} 1.5',
    );
    expect(omText.endsWith('# EOF\n')).toBe(true);

    // OpenMetrics rendering must not change later Prometheus output (prom-client renames in place).
    expect(await (await get('/metrics', { accept: 'text/plain' })).text()).toBe(promText);
    expect(await (await get('/metrics', { accept: 'application/json' })).text()).toBe(promText);
    const bare = await get('/metrics', { accept: 'application/openmetrics-text' });
    expect(bare.headers.get('content-type')).toMatch(/^application\/openmetrics-text/);
  });
});

describe('/v1/ledger', () => {
  it('pages through the ledger in order with next cursors', async () => {
    const { get } = await serve();
    const seen: string[] = [];
    let after = '0';
    for (;;) {
      const res = await get(`/v1/ledger?after=${after}&limit=500`);
      expect(res.status).toBe(200);
      const page = (await res.json()) as {
        entries: { seq: string }[];
        next: string | null;
        head: { seq: string };
      };
      expect(page.head.seq).toBe('1200');
      seen.push(...page.entries.map((e) => e.seq));
      if (page.next === null) break;
      after = page.next;
    }
    expect(seen).toHaveLength(1200);
    expect(seen[0]).toBe('1');
    expect(seen.at(-1)).toBe('1200');
    expect(new Set(seen).size).toBe(1200);
  });

  it('defaults after=0 and limit=500, caps limit at 5000, and returns an empty page at the head', async () => {
    const ledger = memoryLedger(1, 6000);
    const { get } = await serve({ ledger });
    const first = (await (await get('/v1/ledger')).json()) as { entries: unknown[]; next: string };
    expect(first.entries).toHaveLength(500);
    expect(first.next).toBe('500');
    const capped = (await (await get('/v1/ledger?after=10&limit=999999')).json()) as {
      entries: unknown[];
    };
    expect(capped.entries).toHaveLength(LEDGER_MAX_LIMIT);
    expect(ledger.calls).toEqual([
      [0n, 500],
      [10n, 5000],
    ]);
    const atHead = await (await get('/v1/ledger?after=6000')).json();
    expect(atHead).toEqual({
      entries: [],
      next: null,
      head: { seq: '6000', hash: 'h'.repeat(64) },
    });
  });

  it('starts at the oldest retained entry when older ones were removed', async () => {
    const { get } = await serve({ ledger: memoryLedger(100, 120) });
    const page = (await (await get('/v1/ledger?after=0&limit=5')).json()) as {
      entries: { seq: string }[];
      next: string;
    };
    expect(page.entries.map((e) => e.seq)).toEqual(['100', '101', '102', '103', '104']);
    expect(page.next).toBe('104');
  });

  it.each([
    ['after=-1', /after must be a sequence number/],
    ['after=abc', /after must be a sequence number/],
    ['after=01', /after must be a sequence number/],
    ['after=1.5', /after must be a sequence number/],
    ['after=', /after must be a sequence number/],
    ['after=18446744073709551616', /after must be a sequence number/],
    ['after=1&after=2', /after must be given once/],
    ['limit=0', /limit must be a positive integer/],
    ['limit=-5', /limit must be a positive integer/],
    ['limit=ten', /limit must be a positive integer/],
    ['limit=1e3', /limit must be a positive integer/],
    ['limit=', /limit must be a positive integer/],
    ['cursor=5', /unknown query parameter "cursor"/],
  ])('rejects ?%s with 400 and a JSON error', async (query, message) => {
    const { get } = await serve();
    const res = await get(`/v1/ledger?${query}`);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(((await res.json()) as { error: string }).error).toMatch(message);
  });

  it('accepts the largest u64 cursor', async () => {
    const { get } = await serve();
    expect((await get('/v1/ledger?after=18446744073709551615')).status).toBe(200);
  });

  it('answers 500 when the store breaks the order, and logs it', async () => {
    const error = vi.fn();
    const ledger: LedgerReader = {
      readAfter: async () => [{ seq: '3' }, { seq: '5' }],
      head: () => ({ seq: 9n, hash: 'x' }),
    };
    const { get } = await serve({ ledger, logger: { debug() {}, warn() {}, error } });
    const res = await get('/v1/ledger?after=2');
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: 'internal error' });
    expect(error.mock.calls[0]?.[0]).toMatchObject({ err: 'ledger returned seq 5 after 3' });
  });

  it('asks the authorize hook and refuses with 403', async () => {
    const authorize = vi.fn(
      async (req: { headers: Record<string, unknown> }) =>
        req.headers.authorization === 'Bearer ok',
    );
    const { get } = await serve({ authorize });
    expect((await get('/v1/ledger')).status).toBe(403);
    expect((await get('/v1/ledger', { authorization: 'Bearer ok' })).status).toBe(200);
    expect(authorize).toHaveBeenCalledTimes(2);
  });

  it('answers a refusal the hook throws with its status, and Retry-After for 429', async () => {
    const { get } = await serve({
      authorize: async (req: { headers: Record<string, unknown> }) => {
        if (req.headers.authorization === undefined) throw new AccessRefused(401, 'token needed');
        throw new AccessRefused(429, 'too many token checks; retry later', 0.2);
      },
    });
    const unauthenticated = await get('/v1/ledger');
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.headers.get('www-authenticate')).toBe('Bearer');
    const throttled = await get('/v1/ledger', { authorization: 'Bearer x' });
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('1');
    expect(await throttled.json()).toEqual({ error: 'too many token checks; retry later' });
  });

  it('serves /metrics only on the metrics app', async () => {
    const { getApi } = await serve();
    expect((await getApi('/metrics')).status).toBe(404);
  });

  it('answers 404 as JSON for unknown paths', async () => {
    const { get } = await serve();
    const res = await get('/nope');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'not found' });
  });
});
