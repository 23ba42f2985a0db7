// A pod the agent under test sees as running on its node with the given IP: suites without a
// kubelet create it and then set its status themselves, as the kubelet would.
import { PatchStrategy, setHeaderOptions, type CoreV1Api } from '@kubernetes/client-node';

/** Creates the pod bound to `nodeName`, marks it Running with `ip`; returns its uid. */
export async function createRunningPod(
  core: CoreV1Api,
  pod: { namespace: string; name: string; nodeName: string; ip: string },
): Promise<string> {
  const created = await core.createNamespacedPod({
    namespace: pod.namespace,
    body: {
      metadata: { name: pod.name },
      spec: {
        nodeName: pod.nodeName,
        containers: [{ name: 'main', image: 'example.invalid/app:1' }],
      },
    },
  });
  await core.patchNamespacedPodStatus(
    {
      name: pod.name,
      namespace: pod.namespace,
      body: { status: { phase: 'Running', podIP: pod.ip, podIPs: [{ ip: pod.ip }] } },
    },
    // client-node sends json-patch for every PATCH unless told otherwise.
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  return created.metadata?.uid ?? '';
}
