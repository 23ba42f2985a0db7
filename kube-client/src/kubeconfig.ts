// client-node's KubeConfig from the source chooseKubeConfigSource picks. Used by the operator
// and the CLI, whose generated API clients need it; the agent uses RestConfig instead.
import { KubeConfig } from '@kubernetes/client-node';
import {
  KubeConfigError,
  chooseKubeConfigSource,
  type LoadKubeConfigOptions,
} from './kubeconfig-source.ts';

/**
 * Loads, in order: the explicit path, the `KUBECONFIG` list (first file's context, the rest
 * merged as kubectl does), in-cluster service account when `KUBERNETES_SERVICE_HOST` is set.
 * Throws KubeConfigError when none applies or the chosen source is unusable.
 */
export function loadKubeConfig(options: LoadKubeConfigOptions = {}): KubeConfig {
  const source = chooseKubeConfigSource(options);
  const kc = new KubeConfig();
  if (source.kind === 'files') {
    loadFiles(kc, source.files, source.origin);
  } else {
    // client-node reads the server address from process.env itself, and the files under the
    // same prefix chooseKubeConfigSource checked.
    kc.loadFromCluster(options.serviceAccountPrefix ?? '');
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    throw new KubeConfigError(
      `kubeconfig has no cluster for its current context "${kc.getCurrentContext()}"`,
    );
  }
  return kc;
}

function loadFiles(kc: KubeConfig, files: readonly string[], origin: string): void {
  files.forEach((file, i) => {
    const one = i === 0 ? kc : new KubeConfig();
    try {
      one.loadFromFile(file);
    } catch (err) {
      throw new KubeConfigError(
        `${origin}: cannot load kubeconfig ${file}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    // kubectl semantics: the first file that sets current-context wins.
    if (i > 0) kc.mergeConfig(one, true);
  });
}
