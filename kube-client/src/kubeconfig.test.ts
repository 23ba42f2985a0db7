import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { HttpMethod, RequestContext } from '@kubernetes/client-node';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { KubeConfigError, SERVICE_ACCOUNT_DIR } from './kubeconfig-source.ts';
import { loadKubeConfig } from './kubeconfig.ts';

function kubeconfigFile(dir: string, name: string, server: string, current = true): string {
  const file = join(dir, name);
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: ${name}, cluster: {server: "${server}"}}]`,
      `users: [{name: ${name}, user: {token: t}}]`,
      `contexts: [{name: ${name}, context: {cluster: ${name}, user: ${name}}}]`,
      current ? `current-context: ${name}` : '',
    ].join('\n'),
  );
  return file;
}

/** A temporary directory, removed when the file's tests are done. */
const made: string[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

describe('loadKubeConfig', () => {
  const dir = tempDir('kc-');
  const a = kubeconfigFile(dir, 'a', 'https://a.example:6443');
  const b = kubeconfigFile(dir, 'b', 'https://b.example:6443');

  it('prefers the explicit path over KUBECONFIG and in-cluster', () => {
    const kc = loadKubeConfig({
      kubeconfig: b,
      env: { KUBECONFIG: a, KUBERNETES_SERVICE_HOST: '10.0.0.1' },
    });
    expect(kc.getCurrentCluster()?.server).toBe('https://b.example:6443');
  });

  it('uses the first KUBECONFIG file for the context and merges the rest', () => {
    const kc = loadKubeConfig({ env: { KUBECONFIG: [a, b].join(delimiter) } });
    expect(kc.getCurrentCluster()?.server).toBe('https://a.example:6443');
    expect(
      kc
        .getClusters()
        .map((c) => c.name)
        .sort(),
    ).toEqual(['a', 'b']);
  });

  it('loads the in-cluster service account when KUBERNETES_SERVICE_HOST is set', () => {
    const root = tempDir('sa-');
    mkdirSync(join(root, SERVICE_ACCOUNT_DIR), { recursive: true });
    for (const f of ['token', 'ca.crt', 'namespace'])
      writeFileSync(join(root, SERVICE_ACCOUNT_DIR, f), 'x');
    // client-node's loadFromCluster reads the service host and port from process.env itself.
    vi.stubEnv('KUBECONFIG', '');
    vi.stubEnv('KUBERNETES_SERVICE_HOST', '10.0.0.1');
    vi.stubEnv('KUBERNETES_SERVICE_PORT', '443');
    try {
      const kc = loadKubeConfig({ serviceAccountPrefix: root });
      expect(kc.getCurrentCluster()?.server).toBe('https://10.0.0.1:443');
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it.each([
    [{ env: {} }, /no Kubernetes configuration/],
    [
      { kubeconfig: join(dir, 'missing'), env: {} },
      /--kubeconfig: cannot load kubeconfig .*missing/,
    ],
    [{ env: { KUBECONFIG: join(dir, 'missing') } }, /KUBECONFIG: cannot load kubeconfig/],
    [{ env: { KUBECONFIG: delimiter } }, /KUBECONFIG is set but names no file/],
    [
      { env: { KUBERNETES_SERVICE_HOST: '10.0.0.1' }, serviceAccountPrefix: join(dir, 'nowhere') },
      /service account token .* is not readable/,
    ],
    [{ kubeconfig: kubeconfigFile(dir, 'nocurrent', 'https://c', false), env: {} }, /no cluster/],
  ])('refuses %j', (options, message) => {
    expect(() => loadKubeConfig(options)).toThrow(KubeConfigError);
    expect(() => loadKubeConfig(options)).toThrow(message);
  });

  it('gives every request of a cluster and user the same connection pool', async () => {
    const file = join(dir, 'tls');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}]',
        'users: [{name: u, user: {token: t}}, {name: v, user: {token: s}}]',
        'contexts: [{name: cu, context: {cluster: c, user: u}}, {name: cv, context: {cluster: c, user: v}}]',
        'current-context: cu',
      ].join('\n'),
    );
    const kc = loadKubeConfig({ kubeconfig: file, env: {} });
    const dispatcher = async () => {
      const context = new RequestContext('https://127.0.0.1:6443/version', HttpMethod.GET);
      await kc.applySecurityAuthentication(context);
      return context.getDispatcher();
    };
    const first = await dispatcher();
    expect(first).toBeDefined();
    expect(await dispatcher()).toBe(first);
    kc.setCurrentContext('cv');
    const other = await dispatcher();
    expect(other).toBeDefined();
    expect(other).not.toBe(first);
    expect(await dispatcher()).toBe(other);
  });
});
