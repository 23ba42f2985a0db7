// A pod bound to a node on the apiserver, with a kubelet-style cgroup on this host and a process
// in it that burns CPU under a quota: the spend the operator suites meter.
import type { ChildProcess } from 'node:child_process';
import type { CoreV1Api } from '@kubernetes/client-node';
import { createPodCgroup, writeControl, type TestPodCgroup } from './cgroups.ts';

export interface BurnerPod {
  readonly group: TestPodCgroup;
  readonly burner: ChildProcess;
}

export async function startBurnerPod(
  core: CoreV1Api,
  o: {
    readonly namespace: string;
    readonly name: string;
    readonly node: string;
    /** The cgroup directory prefix, removed by the suite with `removePrefix`. */
    readonly prefix: string;
    /** cpu.cfs_quota_us over the default 100 ms period: 20000 is a fifth of a core. */
    readonly quotaUs: string;
    /** The `agentmeter.dev/session-id` annotation, if the pod runs a session. */
    readonly session?: string;
  },
): Promise<BurnerPod> {
  const pod = await core.createNamespacedPod({
    namespace: o.namespace,
    body: {
      metadata: {
        name: o.name,
        ...(o.session === undefined
          ? {}
          : { annotations: { 'agentmeter.dev/session-id': o.session } }),
      },
      spec: { nodeName: o.node, containers: [{ name: 'main', image: 'example.invalid/app:1' }] },
    },
  });
  const group = await createPodCgroup({ uid: pod.metadata?.uid ?? '', prefix: o.prefix });
  await writeControl(group, 'cpu', 'cpu.cfs_quota_us', o.quotaUs);
  return { group, burner: group.run('sh', ['-c', 'while :; do :; done']) };
}
