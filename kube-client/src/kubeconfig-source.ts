// Which Kubernetes configuration a process uses, decided once for both loaders (client-node's
// KubeConfig in the operator, RestConfig in the agent): an explicit path, then the KUBECONFIG
// list, then the in-cluster service account. Nothing found is a start-up error, never a silent
// fallback to an unauthenticated localhost.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export class KubeConfigError extends Error {
  override readonly name = 'KubeConfigError';
}

export interface LoadKubeConfigOptions {
  /** Path from a --kubeconfig flag; wins over the environment. */
  readonly kubeconfig?: string | undefined;
  /** Defaults to process.env; read for KUBECONFIG, KUBERNETES_SERVICE_HOST and _PORT. */
  readonly env?: NodeJS.ProcessEnv;
  /** Prefix for the service account files, for tests. */
  readonly serviceAccountPrefix?: string;
}

export type KubeConfigSource =
  | {
      readonly kind: 'files';
      /** The first file's current-context wins; the others are merged as kubectl does. */
      readonly files: readonly string[];
      /** Where the list came from, for error messages: `--kubeconfig` or `KUBECONFIG`. */
      readonly origin: string;
    }
  | {
      readonly kind: 'in-cluster';
      /** The service account directory (token, ca.crt, namespace). */
      readonly dir: string;
      readonly host: string;
      readonly port: string;
    };

export function chooseKubeConfigSource(options: LoadKubeConfigOptions = {}): KubeConfigSource {
  const env = options.env ?? process.env;
  if (options.kubeconfig)
    return { kind: 'files', files: [options.kubeconfig], origin: '--kubeconfig' };
  if (env.KUBECONFIG) {
    const files = env.KUBECONFIG.split(delimiter).filter((f) => f !== '');
    if (files.length === 0) throw new KubeConfigError('KUBECONFIG is set but names no file');
    return { kind: 'files', files, origin: 'KUBECONFIG' };
  }
  if (env.KUBERNETES_SERVICE_HOST) {
    const dir = join(options.serviceAccountPrefix ?? '', SERVICE_ACCOUNT_DIR);
    const token = join(dir, 'token');
    try {
      accessSync(token, constants.R_OK);
    } catch (err) {
      throw new KubeConfigError(
        `KUBERNETES_SERVICE_HOST is set but the service account token ${token} is not readable ` +
          `(is automountServiceAccountToken disabled?): ${(err as Error).message}`,
        { cause: err },
      );
    }
    return {
      kind: 'in-cluster',
      dir,
      host: env.KUBERNETES_SERVICE_HOST,
      port: env.KUBERNETES_SERVICE_PORT ?? '443',
    };
  }
  throw new KubeConfigError(
    'no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, or run in a pod ' +
      '(KUBERNETES_SERVICE_HOST is not set)',
  );
}
