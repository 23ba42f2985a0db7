import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CostPolicyStatus } from '@agentmeter/crds';
import { FakeApiServer } from '../runtime/fake-apiserver.ts';
import { StateDecodeError } from '../budgets/state.ts';
import { preparePolicy, rebuildOf } from './policy-run.ts';
import { controllerDeps, costPolicy, memoryStore, POLICY_PATH } from './test-support.ts';

let server: FakeApiServer;
beforeAll(async () => {
  server = await FakeApiServer.start();
});
afterEach(() => server.verify());
afterAll(() => server.close());

const H = 'a'.repeat(64);
const point = (seq: bigint) => ({ seq, hash: H });

describe('preparePolicy', () => {
  it('starts from the store’s cursors, dropping one the agent compacted past', async () => {
    const store = await memoryStore();
    await store.commit({
      policy: 'p',
      atNs: 1n,
      cursors: [
        { node: 'n1', from: null, to: point(5n) },
        { node: 'n2', from: null, to: point(9n) },
      ],
      budgets: [],
      sessions: [],
      rollups: [],
      calls: [],
    });
    const positions = { anchors: new Map([['n1', 7n]]) };
    const run = await preparePolicy(controllerDeps(server, store), costPolicy('p'), positions);
    expect(run.fold.cursor('n1')).toBeUndefined();
    expect(run.fold.cursor('n2')).toEqual({ node: 'n2', seq: 9n, hash: H });
    // The commit moves cursors from where the store had them, the compacted one included.
    expect(run.from.map((c) => c.node)).toEqual(['n1', 'n2']);
    expect(run.reports).toBe(0);
  });

  it('drops what the store counted for an earlier CostPolicy of the same name', async () => {
    const store = await memoryStore();
    const earlier = {
      policy: 'p',
      atNs: 1n,
      state: '',
      uid: 'uid-deleted',
      cursors: [{ node: 'n1', from: null, to: point(5n) }],
      budgets: [{ budget: 'all', periodStartNs: 0n, scopeKey: '', nano: 700n }],
      sessions: [],
      rollups: [],
      calls: [],
    };
    await store.commit(earlier);
    const positions = { anchors: new Map<string, bigint>() };
    // The object now named p (uid-p) is another policy: it starts afresh.
    const run = await preparePolicy(controllerDeps(server, store), costPolicy('p'), positions);
    expect(run.fold.cursor('n1')).toBeUndefined();
    expect(run.from).toEqual([]);
    expect(await store.spend('p', 'all', 0n, '')).toBe(0n);
    // The same object finds its own rows again.
    await store.commit({ ...earlier, uid: 'uid-p' });
    const again = await preparePolicy(controllerDeps(server, store), costPolicy('p'), positions);
    expect(again.fold.cursor('n1')).toEqual({ node: 'n1', seq: 5n, hash: H });
    expect(await store.spend('p', 'all', 0n, '')).toBe(700n);
  });

  it('refuses a corrupt stored state and says so on the Ready condition', async () => {
    const store = await memoryStore();
    await store.commit({
      policy: 'p',
      atNs: 1n,
      state: 'v1.not-base64!',
      cursors: [],
      budgets: [],
      sessions: [],
      rollups: [],
      calls: [],
    });
    const policy = costPolicy('p');
    let status: CostPolicyStatus | undefined;
    server.expect({
      method: 'PATCH',
      path: `${POLICY_PATH}/p/status`,
      check: (req) => {
        expect(req.headers['content-type']).toBe('application/merge-patch+json');
        status = (req.body as { status: CostPolicyStatus }).status;
      },
      reply: { body: policy },
    });
    const positions = { anchors: new Map() };
    await expect(preparePolicy(controllerDeps(server, store), policy, positions)).rejects.toThrow(
      StateDecodeError,
    );
    expect(status?.conditions?.[0]).toMatchObject({
      type: 'Ready',
      status: 'False',
      reason: 'StateCorrupt',
    });
  });
});

describe('rebuildOf', () => {
  const now = Date.parse('2026-05-10T12:00:00Z');
  const counted = costPolicy('p', {
    status: { collection: { cursors: `n1 5 ${H}\nn2 9 ${H}\nn3 3 ${H}` } },
  });
  counted.spec.budgets = [
    { name: 'day', amount: '1', period: 'Daily' },
    { name: 'month', amount: '9', period: 'Monthly' },
  ];
  const empty = { state: '', cursors: new Map() };

  it('names what the ledgers cannot give back and counts from the open periods', () => {
    const r = rebuildOf(
      counted,
      empty,
      new Map([
        ['n1', 0n],
        ['n2', 4n],
      ]),
      now,
    );
    expect(r?.countFromMs).toBe(Date.parse('2026-05-01T00:00:00Z'));
    expect(r?.notRebuilt).toEqual([
      'n2: entries 1-4 were compacted by the agent; their spend in the open period is not rebuilt',
      'n3: its agent does not answer; it is rebuilt when it does',
    ]);
  });

  it('is no rebuild when the store holds the policy, or the status never counted', () => {
    const anchors = new Map([['n1', 0n]]);
    expect(rebuildOf(counted, { state: 'v1.x', cursors: new Map() }, anchors, now)).toBeUndefined();
    expect(
      rebuildOf(counted, { state: '', cursors: new Map([['n1', {}]]) }, anchors, now),
    ).toBeUndefined();
    expect(rebuildOf(costPolicy('p'), empty, anchors, now)).toBeUndefined();
  });
});
