// The collection path end to end in one process: a real LedgerStore served by the real agent
// HTTP app (with the ack router), pulled and verified by pullChain, folded page by page.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { LedgerStore } from '../../../node-agent/src/ledger/index.ts';
import { createAckRouter } from '../../../node-agent/src/http/ack.ts';
import { createApp, listen } from '../../../node-agent/src/http/server.ts';
import type { Listening } from '../../../node-agent/src/http/server.ts';
import type { LedgerEntry, LedgerPosition } from '@agentmeter/crds';
import { indexPage, PolicyFold } from '../budgets/accumulate.ts';
import { emptyState } from '../budgets/state.ts';
import { podBody } from '../budgets/test-ledger.ts';
import { httpAgentApi } from './client.ts';
import { pullChain } from './pull.ts';

const T0 = Date.parse('2026-05-10T12:00:00Z');
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0)) await f();
});

async function agent(node: string, nanos: bigint[]) {
  const dir = await mkdtemp(join(tmpdir(), 'am-pull-'));
  const store = await LedgerStore.open({ dir, identity: { node, agentId: 'a1' } });
  for (const [i, nano] of nanos.entries())
    await store.append([podBody({ namespace: 'n1', nano, atMs: T0 }, i)]);
  const app = express();
  app.use(
    createAckRouter({ store, authorize: async (req) => req.headers.authorization === 'Bearer ok' }),
  );
  app.use(createApp({ ledger: store }));
  const server: Listening = await listen(app, '127.0.0.1', 0);
  cleanup.push(async () => {
    await server.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { store, agent: { node, url: `http://127.0.0.1:${server.port}` } };
}

const policy = {
  identity: { name: 'p', currency: 'USD', createdMs: 0, rates: { cpuCoreHour: '1' } },
  generation: 1,
  budgets: [{ name: 'all', amount: '10', period: 'Monthly' as const }],
};

describe('pullChain', () => {
  it('pulls, verifies and counts exactly the ledger total across pages, then acknowledges', async () => {
    const nanos = Array.from({ length: 25 }, (_, i) => BigInt(i * 1000 + 1));
    const { store, agent: a } = await agent('node-a', nanos);
    const api = httpAgentApi({ token: async () => 'ok' });
    const info = await api.info(a);
    const fold = new PolicyFold(emptyState(), [], policy, T0);
    const pages: number[] = [];
    const r = await pullChain(
      api,
      a,
      { node: 'node-a', ...info.anchor },
      (after, entries) => {
        pages.push(entries.length);
        fold.add(indexPage('node-a', after, entries));
      },
      { pageSize: 4 },
    );
    expect(r.failure).toBeNull();
    expect(r.complete).toBe(true);
    expect(r.count).toBe(25);
    expect(pages.length).toBeGreaterThan(1);
    const counted = fold.finish();
    expect(counted.state.budgets.get('all')?.sums.get('*')).toBe(nanos.reduce((x, y) => x + y, 0n));
    expect(counted.cursors).toEqual([{ node: 'node-a', seq: 25n, hash: r.last?.hash }]);
    await api.ack(a, 25n);
    expect(store.stats().acked).toBe(25n);
    await expect(httpAgentApi({ token: async () => 'bad' }).info(a)).rejects.toThrow(/403/);
  });

  it('refuses a tampered entry and everything after it, keeping what verifies before', async () => {
    const { store } = await agent('node-b', [1n, 2n, 3n, 4n]);
    // The store refuses to open a ledger altered on disk, so alter entry 3 as it is served.
    const tampered = {
      head: () => store.head(),
      readAfter: async (after: bigint, limit: number) =>
        (await store.readAfter(after, limit)).map((e) =>
          e.seq === '3' && e.kind === 'pod-usage' && e.cost
            ? { ...e, cost: { ...e.cost, totalNano: '9' } }
            : e,
        ),
    };
    const server = await listen(createApp({ ledger: tampered }), '127.0.0.1', 0);
    cleanup.push(() => server.close());
    const api = httpAgentApi({ token: async () => 'ok' });
    const got: LedgerEntry[] = [];
    const starts: LedgerPosition[] = [];
    const r = await pullChain(
      api,
      { node: 'node-b', url: `http://127.0.0.1:${server.port}` },
      { node: 'node-b', seq: 0n, hash: '0'.repeat(64) },
      (after, entries) => {
        starts.push(after);
        got.push(...entries);
      },
      { pageSize: 1 },
    );
    expect(r.failure?.reason).toBe('hash-mismatch');
    expect(got.map((e) => e.seq)).toEqual(['1', '2']);
    expect(starts.map((s) => s.seq)).toEqual([0n, 1n]);
  });
});
