import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CostPolicyStatus } from '@agentmeter/crds';
import { FakeApiServer } from '../runtime/fake-apiserver.ts';
import { StateDecodeError } from '../budgets/state.ts';
import { preparePolicy, storedCursors } from './policy-run.ts';
import { controllerDeps, costPolicy, POLICY_PATH } from './test-support.ts';

let server: FakeApiServer;
beforeAll(async () => {
  server = await FakeApiServer.start();
});
afterEach(() => server.verify());
afterAll(() => server.close());

const H = 'a'.repeat(64);
const cursors = `n1 5 ${H}\nn2 9 ${H}`;

describe('preparePolicy', () => {
  it('starts from the stored cursors, dropping one the agent compacted past', async () => {
    const policy = costPolicy('p', { status: { collection: { cursors } } });
    const positions = { anchors: new Map([['n1', 7n]]), shared: new Map() };
    const run = await preparePolicy(controllerDeps(server), policy, positions);
    expect(run.fold.cursor('n1')).toBeUndefined();
    expect(run.fold.cursor('n2')).toEqual({ node: 'n2', seq: 9n, hash: H });
    expect(run.reports).toBe(0);
  });

  it('refuses a corrupt state and says so on the Ready condition', async () => {
    const policy = costPolicy('p', { status: { accumulatorState: 'v1.not-base64!' } });
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
    const positions = { anchors: new Map(), shared: new Map() };
    await expect(preparePolicy(controllerDeps(server), policy, positions)).rejects.toThrow(
      StateDecodeError,
    );
    expect(status?.conditions?.[0]).toMatchObject({
      type: 'Ready',
      status: 'False',
      reason: 'StateCorrupt',
    });
  });
});

describe('storedCursors', () => {
  it('reads the cursors, and none from an unreadable list', () => {
    expect(
      storedCursors(costPolicy('p', { status: { collection: { cursors } } }), new Map()),
    ).toHaveLength(2);
    expect(
      storedCursors(costPolicy('p', { status: { collection: { cursors: 'garbage' } } }), new Map()),
    ).toEqual([]);
  });
});
