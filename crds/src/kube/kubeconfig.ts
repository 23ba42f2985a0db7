// Explicit kubeconfig loading. client-node's loadFromDefault() ends in an unauthenticated
// http://localhost:8080 when nothing else is found, which in a pod turns a missing mount into
// confusing connection errors much later; here that case is a start-up error instead.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export class KubeConfigError extends Error {
  override readonly name = 'KubeConfigError';
}

export interface LoadKubeConfigOptions {
  /** Path from a --kubeconfig flag; wins over the environment. */
  readonly kubeconfig?: string | undefined;
  /** Defaults to process.env; read for KUBECONFIG and KUBERNETES_SERVICE_HOST. (The in-cluster
   * server address itself is read from process.env by client-node's loadFromCluster.) */
  readonly env?: NodeJS.ProcessEnv;
  /** Prefix for the service account files, for tests (client-node's loadFromCluster pathPrefix). */
  readonly serviceAccountPrefix?: string;
}

/**
 * Loads, in order: the explicit path, the `KUBECONFIG` list (first file's context, the rest
 * merged as kubectl does), in-cluster service account when `KUBERNETES_SERVICE_HOST` is set.
 * Throws KubeConfigError when none applies or the chosen source is unusable.
 */
export function loadKubeConfig(options: LoadKubeConfigOptions = {}): KubeConfig {
  const env = options.env ?? process.env;
  const kc = new KubeConfig();
  if (options.kubeconfig) {
    loadFiles(kc, [options.kubeconfig], '--kubeconfig');
  } else if (env.KUBECONFIG) {
    const files = env.KUBECONFIG.split(delimiter).filter((f) => f !== '');
    if (files.length === 0) throw new KubeConfigError('KUBECONFIG is set but names no file');
    loadFiles(kc, files, 'KUBECONFIG');
  } else if (env.KUBERNETES_SERVICE_HOST) {
    const prefix = options.serviceAccountPrefix ?? '';
    const token = join(prefix, SERVICE_ACCOUNT_DIR, 'token');
    try {
      accessSync(token, constants.R_OK);
    } catch (err) {
      throw new KubeConfigError(
        `KUBERNETES_SERVICE_HOST is set but the service account token ${token} is not readable ` +
          `(is automountServiceAccountToken disabled?): ${(err as Error).message}`,
        { cause: err },
      );
    }
    kc.loadFromCluster(prefix);
  } else {
    throw new KubeConfigError(
      'no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, or run in a pod ' +
        '(KUBERNETES_SERVICE_HOST is not set)',
    );
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    throw new KubeConfigError(
      `kubeconfig has no cluster for its current context "${kc.getCurrentContext()}"`,
    );
  }
  return kc;
}

function loadFiles(kc: KubeConfig, files: string[], source: string): void {
  files.forEach((file, i) => {
    const one = i === 0 ? kc : new KubeConfig();
    try {
      one.loadFromFile(file);
    } catch (err) {
      throw new KubeConfigError(
        `${source}: cannot load kubeconfig ${file}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    // kubectl semantics: the first file that sets current-context wins.
    if (i > 0) kc.mergeConfig(one, true);
  });
}
