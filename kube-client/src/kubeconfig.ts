// client-node's KubeConfig from the source chooseKubeConfigSource picks. Used by the operator
// and the CLI, whose generated API clients need it; the agent uses RestConfig instead.
import { KubeConfig, type RequestContext } from '@kubernetes/client-node';
import {
  KubeConfigError,
  chooseKubeConfigSource,
  type LoadKubeConfigOptions,
} from './kubeconfig-source.ts';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

/**
 * client-node 2.0 builds a new undici Agent for every request of a generated API client, so each
 * request opened its own TLS connection (a handshake and a secure context each: 200 status
 * patches a round, PERFORMANCE.md). This keeps the first Agent made for a cluster and user and
 * gives it to every later request, whose connections are then kept alive and reused, as
 * client-go's transport cache does. Keyed like client-node's own https.Agent cache: TLS files
 * named in the kubeconfig are read once per cluster and user (a bearer token is a header, read
 * on every request as before).
 */
class KubeConfigReusingConnections extends KubeConfig {
  readonly #dispatchers = new Map<string, Dispatcher>();

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const made = context.getDispatcher();
    if (made === undefined) return;
    const key = JSON.stringify([this.getCurrentCluster()?.name, this.getCurrentUser()?.name]);
    const kept = this.#dispatchers.get(key);
    if (kept === undefined) this.#dispatchers.set(key, made);
    else context.setDispatcher(kept);
  }
}

/**
 * Loads, in order: the explicit path, the `KUBECONFIG` list (first file's context, the rest
 * merged as kubectl does), in-cluster service account when `KUBERNETES_SERVICE_HOST` is set.
 * Throws KubeConfigError when none applies or the chosen source is unusable. Its API clients
 * share one kept-alive connection pool per cluster and user.
 */
export function loadKubeConfig(options: LoadKubeConfigOptions = {}): KubeConfig {
  const source = chooseKubeConfigSource(options);
  const kc = new KubeConfigReusingConnections();
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
