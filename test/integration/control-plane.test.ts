// The test control plane itself: a real, version-stamped kube-apiserver with RBAC and token auth.
import {
  AuthenticationV1Api,
  CoreV1Api,
  RbacAuthorizationV1Api,
  VersionApi,
} from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { adminKubeConfig, controlPlane, kubectl, tokenKubeConfig } from '../support/kube.ts';

describe('test control plane', () => {
  it('reports the pinned Kubernetes version through /version and kubectl', async () => {
    const version = await adminKubeConfig().makeApiClient(VersionApi).getCode();
    expect(version.gitVersion).toBe('v1.36.3');
    const res = await kubectl(['version', '-o', 'json']);
    expect(res.code).toBe(0);
    const parsed = JSON.parse(res.stdout) as {
      clientVersion: { gitVersion: string };
      serverVersion: { gitVersion: string };
    };
    expect(parsed.serverVersion.gitVersion).toBe('v1.36.3');
    expect(parsed.clientVersion.gitVersion).toBe('v1.36.3');
  });

  it('serves on loopback only', () => {
    expect(new URL(controlPlane().server).hostname).toBe('127.0.0.1');
    expect(new URL(controlPlane().etcdUrl).hostname).toBe('127.0.0.1');
  });

  it('authorizes with RBAC: the admin may list namespaces, the ordinary user may not', async () => {
    expect((await kubectl(['get', 'namespaces'])).code).toBe(0);
    const denied = await kubectl(['get', 'namespaces'], {
      kubeconfig: controlPlane().userKubeconfig,
    });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain('User "alice" cannot list resource "namespaces"');
  });

  it('signs ServiceAccount tokens that authenticate and are bound by RBAC', async () => {
    const kc = adminKubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    const ns = `cp-sa-${Date.now()}`;
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await core.createNamespacedServiceAccount({
      namespace: ns,
      body: { metadata: { name: 'reader' } },
    });
    const token = await core.createNamespacedServiceAccountToken({
      name: 'reader',
      namespace: ns,
      body: { spec: { audiences: ['agentmeter'], expirationSeconds: 600 } },
    });
    const saToken = token.status?.token ?? '';
    expect(saToken).toMatch(/^ey/);
    const review = await kc.makeApiClient(AuthenticationV1Api).createTokenReview({
      body: { spec: { token: saToken, audiences: ['agentmeter'] } },
    });
    expect(review.status?.authenticated).toBe(true);
    expect(review.status?.user?.username).toBe(`system:serviceaccount:${ns}:reader`);

    const asSa = tokenKubeConfig(saToken).makeApiClient(CoreV1Api);
    await expect(asSa.listNamespacedPod({ namespace: ns })).rejects.toMatchObject({ code: 403 });
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: 'pod-reader' },
        rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'pod-reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns }],
      },
    });
    expect((await asSa.listNamespacedPod({ namespace: ns })).items).toEqual([]);
    await core.deleteNamespace({ name: ns });
  });
});
