// The operator's leader pod deleted while it collects: the standby takes the Lease within the
// lease duration (plus one retry period, the interval at which a candidate looks), and the
// CostPolicy's budget equals the ledger's priced total to the nano-unit, with the burner's CPU
// equal to its cgroup's counter.
import { parseMoney, type LedgerEntry, type PodUsageEntry } from '@agentmeter/crds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.ts';
import { kubectlJson, realNode } from './support/cluster.ts';
import { reportFigures, settleAndCompare, startBurner, thaw } from './support/faults.ts';
import { deleteOperatorLeader, RETRY_PERIOD_US } from './support/operator-leader.ts';
import { type PodStatus } from './support/pods.ts';
import {
  applyNamespacePolicy,
  policyCursorSeq,
  type PolicyStatus,
  createPolicyNamespace,
  deletePolicyNamespace,
} from './support/policies.ts';
import { agentLedgerAccess, pullLedger } from './support/views.ts';

describe('operator failover on the real node', () => {
  let namespace = '';
  let burner: PodStatus | undefined;
  const policy = `failover-${Math.random().toString(36).slice(2, 8)}`;

  beforeAll(async () => {
    namespace = await createPolicyNamespace('failover', policy);
  });

  afterAll(async () => {
    if (burner) await thaw(burner);
    await deletePolicyNamespace(policy, namespace);
  });

  it('hands the lease over within its duration; budgets equal the ledgers exactly', async () => {
    const node = realNode().nodeName;
    await applyNamespacePolicy(policy, { cpuCoreHour: '0.05', memoryGiBHour: '0.01' });
    burner = await startBurner(namespace, 'burn-failover');
    const priced = (entries: readonly LedgerEntry[]): PodUsageEntry[] =>
      entries.filter(
        (e): e is PodUsageEntry =>
          e.kind === 'pod-usage' && e.cost?.policy.name === policy && e.pod.namespace === namespace,
      );
    // Mid-round: the leader has collected some of the burner's priced usage and goes on.
    await waitFor(
      'the leader to collect priced usage of the burner',
      async () => {
        const status = await kubectlJson<PolicyStatus>(['get', 'costpolicy', policy]);
        const spent = status.status?.budgets?.find((b) => b.name === 'all')?.spent;
        return spent !== undefined && parseMoney(spent) > 0n;
      },
      180_000,
    );
    const failover = await deleteOperatorLeader();
    expect(failover.takeoverUs).toBeLessThanOrEqual(failover.leaseDurationUs + RETRY_PERIOD_US);

    const figures = await settleAndCompare('operator leader deleted', burner);
    expect(figures.problems).toEqual([]);
    expect(figures.measuredNs).toBe(figures.expectedNs);

    // Every priced entry up to the new leader's cursor is in the budget once, to the nano-unit.
    const target = BigInt(figures.ledger.at(-1)?.seq ?? '0');
    let status: PolicyStatus = {};
    await waitFor(
      'the new leader to collect past the settled ledger',
      async () => {
        status = await kubectlJson<PolicyStatus>(['get', 'costpolicy', policy]);
        return (policyCursorSeq(status, node) ?? 0n) >= target;
      },
      180_000,
    );
    const cursor = policyCursorSeq(status, node) ?? 0n;
    const entries = (await pullLedger(await agentLedgerAccess())).filter(
      (e) => BigInt(e.seq) <= cursor,
    );
    const ledgerNano = priced(entries).reduce((s, e) => s + BigInt(e.cost?.totalNano ?? '0'), 0n);
    const spentNano = parseMoney(
      status.status?.budgets?.find((b) => b.name === 'all')?.spent ?? '',
    );
    await reportFigures(
      {
        fault: 'operator leader deleted (budget)',
        unit: 'nano-USD',
        expectedNs: ledgerNano,
        measuredNs: spentNano,
        entries: priced(entries).length,
        problems: [],
      },
      'priced ledger sum (expected), CostPolicy budget spent (measured)',
    );
    expect(ledgerNano).toBeGreaterThan(0n);
    expect(spentNano).toBe(ledgerNano);
  });
});
