// The real node itself: Ready on its own address with a pod range, the `kubernetes` Service
// backed by the apiserver on that address, CoreDNS answering for Service names in pods, and pod
// cgroups where the kubelet (cgroupfs driver) names them.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apply, kubectlJson, kubectlOk, realNode } from './support/cluster.ts';
import { cadvisorMetrics, statsSummary } from './support/kubelet.ts';
import {
  createNamespace,
  deleteNamespace,
  listPods,
  podCgroupCounters,
  podCgroupDir,
  waitForPodPhase,
} from './support/pods.ts';

interface Node {
  spec: { podCIDR?: string };
  status: {
    conditions: { type: string; status: string }[];
    addresses: { type: string; address: string }[];
    nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string };
  };
}

let namespace = '';

beforeAll(async () => {
  namespace = await createNamespace('node-health');
});

afterAll(async () => {
  if (namespace) await deleteNamespace(namespace);
});

/** Runs busybox with `script` to completion and returns its output. */
async function runBusybox(name: string, script: string): Promise<string> {
  await apply([
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace },
      spec: {
        restartPolicy: 'Never',
        containers: [
          {
            name: 'main',
            image: realNode().images.busybox,
            imagePullPolicy: 'Never',
            command: ['sh', '-c', script],
          },
        ],
      },
    },
  ]);
  await waitForPodPhase(namespace, name, ['Succeeded']);
  return kubectlOk(['logs', '-n', namespace, name]);
}

describe('the real node', () => {
  it('is Ready, addressed by its own InternalIP, with a pod range and real runtime', async () => {
    const node = realNode();
    const status = await kubectlJson<Node>(['get', 'node', node.nodeName]);
    expect(status.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(status.status.addresses).toContainEqual({
      type: 'InternalIP',
      address: node.nodeAddress,
    });
    expect(status.spec.podCIDR).toMatch(/^10\.244\.\d+\.0\/24$/);
    expect(status.status.nodeInfo.kubeletVersion).toBe('v1.36.3');
    expect(status.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\/v?2\.4\./);
  });

  it('backs the kubernetes Service with the apiserver on the node address', async () => {
    const slices = await kubectlJson<{
      items: { endpoints: { addresses: string[] }[]; ports: { port: number }[] }[];
    }>(['get', 'endpointslices', '-n', 'default', '-l', 'kubernetes.io/service-name=kubernetes']);
    const addresses = slices.items.flatMap((s) => s.endpoints.flatMap((e) => e.addresses));
    expect(addresses).toEqual([realNode().nodeAddress]);
    expect(realNode().server).toBe(
      `https://${realNode().nodeAddress}:${slices.items[0]?.ports[0]?.port}`,
    );
  });

  it('resolves Service names in a pod through CoreDNS and reaches the API by its Service', async () => {
    await apply([
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'named', namespace },
        spec: { ports: [{ port: 8080 }], selector: { app: 'none' } },
      },
    ]);
    const clusterIp = (
      await kubectlOk([
        'get',
        'service',
        'named',
        '-n',
        namespace,
        '-o',
        'jsonpath={.spec.clusterIP}',
      ])
    ).trim();
    const apiIp = (
      await kubectlOk([
        'get',
        'service',
        'kubernetes',
        '-n',
        'default',
        '-o',
        'jsonpath={.spec.clusterIP}',
      ])
    ).trim();
    const domain = realNode().clusterDomain;
    const out = await runBusybox(
      'dns',
      [
        `nslookup named.${namespace}.svc.${domain}`,
        `nslookup kubernetes.default.svc.${domain}`,
        'cat /etc/resolv.conf',
        // Plain HTTP through kube-proxy's rules to the apiserver on the node address, which
        // answers it with a 400 (it speaks TLS): the connection went all the way.
        `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${apiIp} 443 | head -n 1`,
      ].join('; '),
    );
    expect(out).toContain(`Address: ${clusterIp}`);
    expect(out).toContain(`Address: ${apiIp}`);
    expect(out).toContain(`nameserver ${realNode().clusterDns}`);
    expect(out).toContain('HTTP/1.0 400 Bad Request');
  });

  it('keeps each pod in the cgroup the kubelet names for its QoS class, with live counters', async () => {
    const [dns] = await listPods('kube-system', 'k8s-app=kube-dns');
    if (!dns) throw new Error('no CoreDNS pod');
    // Requests below its memory limit: Burstable, so kubepods/burstable/pod<uid>.
    expect(dns.status.qosClass).toBe('Burstable');
    expect(podCgroupDir('cpuacct', dns)).toBe(
      `/sys/fs/cgroup/cpuacct/kubepods/burstable/pod${dns.metadata.uid}`,
    );
    expect(existsSync(podCgroupDir('memory', dns))).toBe(true);
    const counters = await podCgroupCounters(dns);
    expect(counters.cpuNs).toBeGreaterThan(0n);
    expect(counters.workingSetBytes).toBeGreaterThan(0n);
  });

  it("serves the kubelet's own usage figures through the apiserver's node proxy", async () => {
    const [dns] = await listPods('kube-system', 'k8s-app=kube-dns');
    if (!dns) throw new Error('no CoreDNS pod');
    const summary = await statsSummary();
    expect(summary.node.nodeName).toBe(realNode().nodeName);
    const pod = summary.pods.find((p) => p.podRef.uid === dns.metadata.uid);
    expect(pod?.cpu?.usageCoreNanoSeconds).toBeGreaterThan(0);
    expect(pod?.memory?.workingSetBytes).toBeGreaterThan(0);
    expect(await cadvisorMetrics()).toContain(
      `container_cpu_usage_seconds_total{container="coredns"`,
    );
  });
});
