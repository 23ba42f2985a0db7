// The typed API clients the suites use, made from one kubeconfig.
import * as k8s from '@kubernetes/client-node';
import { controlPlane } from './kube.ts';

/** For a kubeconfig; by default the shared control plane's admin. */
export function kubeApis(kubeconfig: string = controlPlane().kubeconfig) {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  return {
    apps: kc.makeApiClient(k8s.AppsV1Api),
    batch: kc.makeApiClient(k8s.BatchV1Api),
    coordination: kc.makeApiClient(k8s.CoordinationV1Api),
    core: kc.makeApiClient(k8s.CoreV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    discovery: kc.makeApiClient(k8s.DiscoveryV1Api),
    events: kc.makeApiClient(k8s.EventsV1Api),
    rbac: kc.makeApiClient(k8s.RbacAuthorizationV1Api),
  };
}
