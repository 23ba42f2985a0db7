// The status commit against a scripted apiserver (controller-rs fixtures.rs style): what is sent,
// in what order, and what a 409 Conflict leads to.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CostPolicy, CostPolicyStatus } from '@agentmeter/crds';
import { FakeApiServer, statusReply, type SeenRequest } from '../runtime/fake-apiserver.ts';
import { preparePolicy, type PolicyRun } from './policy-run.ts';
import { commitStatus, MAX_ATTEMPTS, ReconcileError } from './status-commit.ts';
import type { Health } from './status-build.ts';
import { controllerDeps, costPolicy, POLICY_PATH } from './test-support.ts';

const healthy: Health = { unreachable: [], refused: [] };
const STATUS = `${POLICY_PATH}/p/status`;
let server: FakeApiServer;

beforeAll(async () => {
  server = await FakeApiServer.start();
});
afterEach(() => server.verify());
afterAll(() => server.close());

function setup() {
  const deps = controllerDeps(server);
  const positions = { anchors: new Map<string, bigint>(), shared: new Map() };
  const repulled: PolicyRun[] = [];
  const commit = {
    ...deps,
    prepare: (p: CostPolicy) => preparePolicy(deps, p, positions),
    repull: async (run: PolicyRun) => {
      repulled.push(run);
    },
  };
  return { deps, commit, repulled };
}

/** Answers a status patch with the policy carrying the patched status at a new version. */
function accept(rv: string) {
  return (req: SeenRequest) => {
    const body = req.body as { status: CostPolicyStatus };
    const stored = costPolicy('p', { status: body.status });
    return { body: { ...stored, metadata: { ...stored.metadata, resourceVersion: rv } } };
  };
}

const conflict = statusReply(409, 'Conflict', 'the object has been modified');

describe('commitStatus', () => {
  it('writes one merge patch guarded by the resourceVersion it read', async () => {
    const { commit } = setup();
    const run = await commit.prepare(costPolicy('p'));
    let sent: SeenRequest | undefined;
    server.expect({
      method: 'PATCH',
      path: STATUS,
      check: (req) => (sent = req),
      reply: accept('2'),
    });
    const r = await commitStatus(commit, run, healthy);
    expect(r.writes).toBe(1);
    expect(sent?.headers['content-type']).toBe('application/merge-patch+json');
    const body = sent?.body as { metadata: { resourceVersion: string }; status: CostPolicyStatus };
    expect(body.metadata.resourceVersion).toBe('1');
    expect(body.status.observedGeneration).toBe(1);
    expect(body.status.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(body.status.accumulatorState).toMatch(/^v1\./);
    expect(r.outcome.policy.metadata.resourceVersion).toBe('2');
  });

  it('sends nothing when the stored status already says the same', async () => {
    const { commit } = setup();
    server.expect({ method: 'PATCH', path: STATUS, reply: accept('2') });
    const first = await commitStatus(commit, await commit.prepare(costPolicy('p')), healthy);
    const again = await commitStatus(commit, await commit.prepare(first.outcome.policy), healthy);
    expect(again.writes).toBe(0);
    expect(server.seen.at(-1)?.method).toBe('PATCH');
  });

  it('on a conflict re-reads the policy, pulls again and writes over the new version', async () => {
    const { commit, repulled } = setup();
    const run = await commit.prepare(costPolicy('p'));
    const fresh = costPolicy('p');
    fresh.metadata.resourceVersion = '7';
    server.expect(
      { method: 'PATCH', path: STATUS, reply: conflict },
      { method: 'GET', path: `${POLICY_PATH}/p`, reply: { body: fresh } },
      {
        method: 'PATCH',
        path: STATUS,
        check: (req) =>
          expect((req.body as { metadata: { resourceVersion: string } }).metadata).toEqual({
            resourceVersion: '7',
          }),
        reply: accept('8'),
      },
    );
    const r = await commitStatus(commit, run, healthy);
    expect(r.writes).toBe(1);
    expect(repulled).toHaveLength(1);
    expect(repulled[0]?.policy.metadata.resourceVersion).toBe('7');
  });

  it(`gives up with a ReconcileError after ${MAX_ATTEMPTS} conflicts`, async () => {
    const { commit, repulled } = setup();
    const run = await commit.prepare(costPolicy('p'));
    for (let i = 0; i < MAX_ATTEMPTS; i++)
      server.expect(
        { method: 'PATCH', path: STATUS, reply: conflict },
        { method: 'GET', path: `${POLICY_PATH}/p`, reply: { body: costPolicy('p') } },
      );
    await expect(commitStatus(commit, run, healthy)).rejects.toThrow(ReconcileError);
    expect(repulled).toHaveLength(MAX_ATTEMPTS);
  });

  it('passes any other failure through without retrying', async () => {
    const { commit } = setup();
    const run = await commit.prepare(costPolicy('p'));
    server.expect({
      method: 'PATCH',
      path: STATUS,
      reply: statusReply(422, 'Invalid', 'status.budgets: Invalid value'),
    });
    await expect(commitStatus(commit, run, healthy)).rejects.toThrow(/Invalid value|422/);
  });
});
