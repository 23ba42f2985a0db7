// Access to the shared test control plane from integration suites.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiException, ApiextensionsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { RestClient } from '@agentmeter/kube-client';
import { inject } from 'vitest';
import type { ControlPlaneInfo } from '../../hack/control-plane.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export function controlPlane(): ControlPlaneInfo {
  return inject('controlPlane');
}

export function kubeconfigPath(): string {
  return controlPlane().kubeconfig;
}

export function adminKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(controlPlane().kubeconfig);
  return kc;
}

/** The agent's own client, as the admin, or as any token against any server (a forwarder). */
export function adminRestClient(options: { server?: string; token?: string } = {}): RestClient {
  const plane = controlPlane();
  const ca = readFileSync(plane.caFile);
  const token = options.token ?? plane.admin.token;
  return new RestClient({
    server: options.server ?? plane.server,
    tls: { ca, rejectUnauthorized: true },
    token: () => token,
  });
}

/** A KubeConfig that authenticates with a bearer token (e.g. a ServiceAccount's). */
export function tokenKubeConfig(token: string, name = 'token-user'): KubeConfig {
  const plane = controlPlane();
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server: plane.server, caFile: plane.caFile }],
    users: [{ name, token }],
    contexts: [{ name, cluster: 'test', user: name }],
    currentContext: name,
  });
  return kc;
}

/** The status code and message of a refused request. */
export async function refusal(
  request: Promise<unknown>,
): Promise<{ code: number; message: string }> {
  try {
    await request;
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    const body: unknown = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
    return { code: err.code, message: (body as { message?: string }).message ?? '' };
  }
  throw new Error('the apiserver accepted the request');
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function kubectl(
  args: string[],
  opts: { input?: string; kubeconfig?: string } = {},
): Promise<CommandResult> {
  const plane = controlPlane();
  return new Promise((done) => {
    const child = execFile(
      plane.binaries.kubectl,
      ['--kubeconfig', opts.kubeconfig ?? plane.kubeconfig, ...args],
      { maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        done({ code, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Applies every CRD manifest in crds/manifests and waits until the apiserver serves them. */
export async function applyCrds(): Promise<void> {
  const dir = join(repoRoot, 'crds', 'manifests');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();
  for (const file of files) {
    const res = await kubectl([
      'apply',
      '--server-side',
      '--force-conflicts',
      '-f',
      join(dir, file),
    ]);
    if (res.code !== 0) throw new Error(`kubectl apply ${file} failed: ${res.stderr}`);
  }
  const api = adminKubeConfig().makeApiClient(ApiextensionsV1Api);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const crds = await api.listCustomResourceDefinition();
    const ours = crds.items.filter((c) => c.spec.group === 'agentmeter.dev');
    const established = ours.filter((c) =>
      c.status?.conditions?.some((cond) => cond.type === 'Established' && cond.status === 'True'),
    );
    if (ours.length >= files.length && established.length === ours.length) return;
    if (Date.now() > deadline) throw new Error('agentmeter CRDs were not established within 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Deletes a suite's namespace on cleanup; one already gone (or never made) is fine. */
export async function deleteTestNamespace(name: string): Promise<void> {
  await adminKubeConfig()
    .makeApiClient(CoreV1Api)
    .deleteNamespace({ name })
    .catch(() => undefined);
}
