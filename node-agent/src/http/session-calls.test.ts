// The calls route end to end over HTTP: a real ledger, the real session access check (the
// caller's source address names its pod), the tree and its sums; another tenant is refused.
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMoney, zeroUsage } from '@agentmeter/crds';
import type { TokenReviewer } from '@agentmeter/kube-client/access';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TickBatch } from '../batches/tick-batcher.ts';
import { callsBodies } from '../batches/calls-bodies.ts';
import { modelCallDraft, spanIdOf } from '../../../test/support/call-draft.ts';
import type { CallDraft } from '../calls/index.ts';
import { readSeqs } from '../ledger/read-seqs.ts';
import { LedgerStore } from '../ledger/segment-store.ts';
import { podUsageBody } from '../batches/ledger-bodies.ts';
import type { PodMeta } from '../pods/pod-meta.ts';
import { listen } from './server.ts';
import { SessionBook } from './session-book.ts';
import { sessionReaderAccess } from './session-access.ts';
import { sessionsRouter } from './sessions-api.ts';

const meta: PodMeta = {
  uid: 'uid-a',
  namespace: 'team-a',
  name: 'runtime',
  phase: 'Running',
  annotations: {},
  labels: {},
  podIPs: ['127.0.0.71'],
  hostNetwork: false,
  terminated: false,
};
const other = { ...meta, uid: 'uid-b', namespace: 'team-b', podIPs: ['127.0.0.72'] };
const session = { namespace: 'team-a', id: 's1' };
const ref = { policy: { name: 'p', generation: '1' }, currency: 'USD' };
const T = 1_700_000_000_000_000_000n;

const draft = (n: number, parent: number | null, over: Partial<CallDraft> = {}): CallDraft =>
  modelCallDraft(n, {
    parentSpanId: parent === null ? null : spanIdOf(parent),
    startNs: T + BigInt(n),
    endNs: T + BigInt(n) + 100n,
    tokens: { input: 100n, output: 10n, cacheRead: 0n, cacheCreation: 0n, reasoning: 0n },
    ...over,
  });

const price =
  (costs: Record<string, bigint | null>) =>
  (call: { model: string | null; toolName: string | null }) => {
    const cost = costs[call.toolName ?? call.model ?? ''] ?? null;
    return cost === null
      ? { costNano: null, rate: null, unpriced: 'no-tool-rate' as const }
      : { costNano: cost, rate: call.toolName ?? call.model ?? '', unpriced: null };
  };

let dir: string;
let store: LedgerStore;
let base: string;
let close: () => Promise<void>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agentmeter-session-calls-'));
  store = await LedgerStore.open({ dir, identity: { node: 'n', agentId: 'a' } });
  const book = new SessionBook();
  const time = { start: String(T), end: String(T + 1_000_000_000n) };
  const usage = { ...zeroUsage(), cpuNs: 1000n };
  const costs = { 'gpt-5': 7n, web_search: 11n, shell: null };
  // chat (1) → tool web_search (2) → chat (3); an unpriced shell tool (4) under chat (1).
  const calls = [
    draft(1, null),
    draft(2, 1, {
      kind: 'tool',
      operation: 'execute_tool',
      model: null,
      provider: null,
      tokens: null,
      tool: { name: 'web_search', type: null, callId: 'c', argsHash: null },
    }),
    draft(3, 2),
    draft(4, 1, {
      kind: 'tool',
      operation: 'execute_tool',
      model: null,
      provider: null,
      tokens: null,
      tool: { name: 'shell', type: null, callId: null, argsHash: null },
    }),
  ];
  const { bodies, records } = callsBodies('1', time, meta, session, calls, {
    ref,
    price: price(costs),
  });
  const pod = podUsageBody('1', time, {
    meta,
    qos: 'Burstable',
    usage,
    shares: [{ session, usage }],
    cost: { ...ref, totalNano: '5', bySession: [{ session, totalNano: '5' }] },
    flags: [],
  });
  const batch: TickBatch = {
    tick: '1',
    bodies: [pod, ...bodies],
    shares: [{ meta, session, usage, costNano: 5n, currency: 'USD' }],
    calls: [{ pod: meta, session, calls: records, currency: 'USD' }],
  };
  const written = await store.append(batch.bodies);
  book.apply(batch, T, BigInt(written.at(-1)?.seq ?? 0));
  const app = express();
  app.use(
    sessionsRouter({
      book,
      node: 'n',
      readSession: sessionReaderAccess({
        pods: { podsByIp: (ip) => [meta, other].filter((p) => p.podIPs.includes(ip)) },
        reviewer: {} as TokenReviewer,
      }),
      readEntries: (seqs) => readSeqs(store, seqs),
    }),
  );
  const server = await listen(app, '127.0.0.1', 0);
  base = `http://127.0.0.1:${server.port}`;
  close = () => server.close();
});

afterAll(async () => {
  await close();
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

function get(path: string, from: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { localAddress: from }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('GET /v1/sessions/{namespace}/{id}/calls', () => {
  it('lists the calls as a tree with their costs; total = infrastructure + calls', async () => {
    const res = await get('/v1/sessions/team-a/s1/calls', '127.0.0.71');
    expect(res.status).toBe(200);
    const body = res.body as {
      complete: boolean;
      calls: string;
      traces: {
        traceId: string;
        calls: {
          spanId: string;
          cost: unknown;
          unpriced: unknown;
          children: { spanId: string; children: { spanId: string }[] }[];
        }[];
      }[];
      cost: { infrastructure: { USD: string }; calls: { USD: string }; total: { USD: string } };
    };
    expect(body).toMatchObject({ complete: true, calls: '4' });
    const [root] = body.traces[0]?.calls ?? [];
    expect(root?.spanId).toBe('0000000000000001');
    expect(root?.cost).toEqual({ USD: '0.000000007' });
    expect(root?.children.map((c) => c.spanId)).toEqual(['0000000000000002', '0000000000000004']);
    expect(root?.children[0]?.children.map((c) => c.spanId)).toEqual(['0000000000000003']);
    expect(body.cost).toEqual({
      infrastructure: { USD: '0.000000005' },
      // 7 + 11 + 7; the shell call is unpriced (recorded, no cost).
      calls: { USD: '0.000000025' },
      total: { USD: '0.00000003' },
    });
    expect(parseMoney(body.cost.total.USD)).toBe(
      parseMoney(body.cost.infrastructure.USD) + parseMoney(body.cost.calls.USD),
    );
  });

  it('refuses another tenant, as for the session itself', async () => {
    const res = await get('/v1/sessions/team-a/s1/calls', '127.0.0.72');
    expect(res.status).toBe(403);
    expect((await get('/v1/sessions/team-a/s1', '127.0.0.72')).status).toBe(403);
    // An unknown source with no token is refused too.
    expect((await get('/v1/sessions/team-a/s1/calls', '127.0.0.73')).status).toBe(403);
  });

  it('answers 404 for a session this node has not seen, and 400 for a bad path', async () => {
    expect((await get('/v1/sessions/team-a/nope/calls', '127.0.0.71')).status).toBe(404);
    expect((await get('/v1/sessions/Team_A/s1/calls', '127.0.0.71')).status).toBe(400);
  });
});
