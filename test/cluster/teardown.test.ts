// Runs last in the cluster project (test/setup/sequencer.ts): stops the node every other suite
// used and checks that the host is as it was before the node started: kubepods cgroups, mounts,
// links, routes, iptables rules, nf_tables tables, sysctls and the fixed paths the kubelet and
// containerd write.
import { describe, expect, it } from 'vitest';
import { stopRecordedNode } from '../../hack/real-node.ts';
import { diffHostState, snapshotHost } from '../../hack/real-node/host-state.ts';
import { readRecord, tryLock } from '../../hack/real-node/lock.ts';
import { realNode } from './support/cluster.ts';

describe('real node teardown', () => {
  it('leaves cgroups, mounts, links, iptables and sysctls as they were', async () => {
    const record = await readRecord();
    if (!record) throw new Error('no real node is recorded: the global setup did not start one');
    expect(record.dir).toBe(realNode().dir);
    // While the node runs, the host does differ: the check below is not vacuous.
    const during = diffHostState(record.before, await snapshotHost());
    expect(during).toContainEqual('link added: cni0 bridge');
    expect(during.some((d) => d.startsWith('cgroup added: /sys/fs/cgroup/cpu/kubepods'))).toBe(
      true,
    );
    expect(during.some((d) => d.startsWith('iptables rule added: :KUBE-SERVICES'))).toBe(true);

    const lines: string[] = [];
    const after = await stopRecordedNode({ evenIfOwned: true, log: (l) => lines.push(l) });
    process.stdout.write(`teardown:\n  ${lines.join('\n  ')}\n`);
    expect(after).toEqual([]);
    expect(await readRecord()).toBeUndefined();
    // Nothing of the node runs any more: the machine's node lock is free.
    const lock = await tryLock();
    expect(lock).toBeDefined();
    lock?.release();
  }, 300_000);
});
