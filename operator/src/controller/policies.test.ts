import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeApiServer } from '../runtime/fake-apiserver.ts';
import { listPolicies, policyRef } from './policies.ts';
import { controllerDeps, memoryStore, costPolicy, POLICY_PATH } from './test-support.ts';

let server: FakeApiServer;
beforeAll(async () => {
  server = await FakeApiServer.start();
});
afterEach(() => server.verify());
afterAll(() => server.close());

describe('listPolicies', () => {
  it('follows continue tokens page by page and drops managedFields', async () => {
    const withFields = costPolicy('a');
    (withFields.metadata as { managedFields?: unknown }).managedFields = [{ manager: 'x' }];
    server.expect(
      {
        method: 'GET',
        path: POLICY_PATH,
        check: (req) => {
          expect(req.query.get('limit')).toBe('25');
          expect(req.query.has('continue')).toBe(false);
        },
        reply: { body: { items: [withFields], metadata: { continue: 'tok' } } },
      },
      {
        method: 'GET',
        path: POLICY_PATH,
        check: (req) => expect(req.query.get('continue')).toBe('tok'),
        reply: { body: { items: [costPolicy('b')], metadata: { continue: '' } } },
      },
    );
    const policies = await listPolicies(controllerDeps(server, await memoryStore()).custom);
    expect(policies.map((p) => p.metadata.name)).toEqual(['a', 'b']);
    expect(policies[0]?.metadata).not.toHaveProperty('managedFields');
  });
});

describe('policyRef', () => {
  it('refers to the cluster-scoped policy by name and uid', () => {
    expect(policyRef(costPolicy('a'))).toEqual({
      apiVersion: 'agentmeter.dev/v1alpha1',
      kind: 'CostPolicy',
      name: 'a',
      uid: 'uid-a',
    });
  });
});
