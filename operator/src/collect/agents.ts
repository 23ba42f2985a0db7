// Finding the node agents through the API: the EndpointSlices of their headless Service (what
// the chart ships), or their pods by label. Either way an agent is (node name, base URL).
import type { CoreV1Api, DiscoveryV1Api } from '@kubernetes/client-node';

export interface Agent {
  readonly node: string;
  /** e.g. http://10.0.3.7:9464 */
  readonly url: string;
}

export type Discover = () => Promise<Agent[]>;

function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function sorted(agents: Map<string, Agent>): Agent[] {
  return [...agents.values()].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}

/**
 * Agents behind the ready endpoints of `service` in `namespace`. The port is the slice's port
 * named `portName` (the Service's target port, which need not equal its port), else `port`.
 * FQDN slices are followed too: the address is then a host name.
 */
export function endpointSliceDiscovery(
  api: Pick<DiscoveryV1Api, 'listNamespacedEndpointSlice'>,
  namespace: string,
  service: string,
  port: number,
  scheme = 'http',
  portName = 'http',
): Discover {
  return async () => {
    const list = await api.listNamespacedEndpointSlice({
      namespace,
      labelSelector: `kubernetes.io/service-name=${service}`,
    });
    const agents = new Map<string, Agent>();
    for (const slice of list.items) {
      const slicePort = slice.ports?.find((p) => p.name === portName)?.port ?? port;
      for (const ep of slice.endpoints ?? []) {
        const ip = ep.addresses[0];
        // An endpoint without a node cannot be tied to a ledger identity; skip it.
        if (ip === undefined || !ep.nodeName || ep.conditions?.ready === false) continue;
        agents.set(ep.nodeName, {
          node: ep.nodeName,
          url: `${scheme}://${hostPort(ip, slicePort)}`,
        });
      }
    }
    return sorted(agents);
  };
}

/** Agents as running pods matching `labelSelector` in `namespace` (status.podIP). */
export function podDiscovery(
  api: Pick<CoreV1Api, 'listNamespacedPod'>,
  namespace: string,
  labelSelector: string,
  port: number,
  scheme = 'http',
): Discover {
  return async () => {
    const list = await api.listNamespacedPod({ namespace, labelSelector });
    const agents = new Map<string, Agent>();
    for (const pod of list.items) {
      const ip = pod.status?.podIP;
      const node = pod.spec?.nodeName;
      if (!ip || !node || pod.metadata?.deletionTimestamp) continue;
      agents.set(node, { node, url: `${scheme}://${hostPort(ip, port)}` });
    }
    return sorted(agents);
  };
}
