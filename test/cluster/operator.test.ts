// The operator as the chart runs it: it finds the agents through the EndpointSlices of their
// Service, pulls their ledgers with its projected token, and a CostPolicy's status shows the
// spend of the pods it prices, equal to the ledgers' sum to the nano-unit.
import { parseMoney, type LedgerEntry, type PodUsageEntry } from '@agentmeter/crds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cursorSeq } from '../../hack/demo/spend.ts';
import { waitFor } from '../support/wait.ts';
import { apply, chartRelease, kubectlJson, realNode } from './support/cluster.ts';
import { busyboxContainer, listPods, waitForPodPhase } from './support/pods.ts';
import {
  applyNamespacePolicy,
  type PolicyStatus,
  createPolicyNamespace,
  deletePolicyNamespace,
} from './support/policies.ts';
import { agentLedgerAccess, pullLedger } from './support/views.ts';

describe('the operator on the real node', () => {
  let namespace = '';
  const policy = `cluster-${Math.random().toString(36).slice(2, 8)}`;

  beforeAll(async () => {
    namespace = await createPolicyNamespace('operator', policy);
  });

  afterAll(async () => {
    await deletePolicyNamespace(policy, namespace);
  });

  it('finds the agent through its EndpointSlices', async () => {
    const { namespace: system } = chartRelease();
    const [agent] = await listPods(system, 'app.kubernetes.io/component=agent');
    const slices = await kubectlJson<{
      items: { endpoints?: { addresses: string[]; targetRef?: { name: string } }[] }[];
    }>(['get', 'endpointslices', '-n', system]);
    const targets = slices.items.flatMap((s) => s.endpoints ?? []);
    expect(targets.some((e) => e.targetRef?.name === agent?.metadata.name)).toBe(true);
  });

  it("shows a CostPolicy's spend equal to the ledgers' sum to the nano-unit", async () => {
    await applyNamespacePolicy(policy, {
      cpuCoreHour: '0.05',
      memoryGiBHour: '0.01',
      networkGiB: '0.02',
    });
    const access = await agentLedgerAccess();
    // Priced only once the agent has the policy: wait for its first priced entry before work.
    await apply([
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'work', namespace },
        spec: {
          restartPolicy: 'Never',
          containers: [
            busyboxContainer('work', 'i=0; while [ $i -lt 800000 ]; do i=$((i+1)); done'),
          ],
        },
      },
    ]);
    await waitForPodPhase(namespace, 'work', ['Succeeded'], 180_000);
    const priced = (entries: readonly LedgerEntry[]): PodUsageEntry[] =>
      entries.filter(
        (e): e is PodUsageEntry => e.kind === 'pod-usage' && e.cost?.policy.name === policy,
      );
    let target = 0n;
    await waitFor(
      'the agent to price the pod and settle past its end',
      async () => {
        const entries = await pullLedger(access);
        const mine = priced(entries).filter((e) => e.pod.namespace === namespace);
        const last = entries.at(-1);
        if (mine.length === 0 || !last) return false;
        target = BigInt(last.seq);
        return true;
      },
      120_000,
    );
    let status: PolicyStatus = {};
    await waitFor(
      'the operator to collect past that point',
      async () => {
        status = await kubectlJson<PolicyStatus>(['get', 'costpolicy', policy]);
        return (cursorSeq(status.status?.collection?.cursors, realNode().nodeName) ?? 0n) >= target;
      },
      180_000,
    );
    const cursor = cursorSeq(status.status?.collection?.cursors, realNode().nodeName) ?? 0n;
    const entries = (await pullLedger(access)).filter((e) => BigInt(e.seq) <= cursor);
    const ledgerNano = priced(entries).reduce((s, e) => s + BigInt(e.cost?.totalNano ?? '0'), 0n);
    const spent = status.status?.budgets?.find((b) => b.name === 'all')?.spent;
    process.stdout.write(
      `CostPolicy ${policy}: status spent ${spent} USD; ledger sum to seq ${cursor}: ${ledgerNano} nano-USD\n`,
    );
    expect(ledgerNano).toBeGreaterThan(0n);
    expect(parseMoney(spent ?? '')).toBe(ledgerNano);
  });
});
