// The chart's life cycle on the real node, as a user drives it with helm: an upgrade with a
// changed value rolls the agent DaemonSet and the operator Deployment while the agent keeps its
// ledger (hostPath) and the operator counts nothing twice; an uninstall removes everything the
// chart made but the CRDs (crds.keep) and so every CostPolicy; a reinstall picks up where the
// ledger and the policy's status left off. The release ends as the global setup installed it.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  parseEntry,
  parseMoney,
  verifyChain,
  type LedgerEntry,
  type PodUsageEntry,
} from '@agentmeter/crds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { cursorSeq, ledgerSpendNano, spendPolicy } from '../../hack/demo/spend.ts';
import { installChart } from '../../hack/real-node/chart.ts';
import { waitFor } from '../support/wait.ts';
import { apply, chartRelease, helm, kubectl, kubectlJson, realNode } from './support/cluster.ts';
import { deleteNamespace, listPods, waitForPodPhase, waitForRollout } from './support/pods.ts';
import { createPolicyNamespace } from './support/policies.ts';
import { agentLedgerAccess, pullLedger } from './support/views.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const AGENT = 'app.kubernetes.io/component=agent';
const OPERATOR = 'app.kubernetes.io/component=operator';
/** With the embedded store (the test install's store.mode) the chart runs one operator. */
const OPERATOR_REPLICAS = 1;

interface PolicyStatus {
  metadata: { name: string; creationTimestamp: string };
  spec: { currency: string };
  status?: { budgets?: { name: string; spent: string }[]; collection?: { cursors?: string } };
}

interface ChartObject {
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
}

const uids = async (selector: string): Promise<string[]> =>
  (await listPods(chartRelease().namespace, selector)).map((p) => p.metadata.uid).sort();

const lastSeq = (entries: readonly LedgerEntry[]): bigint => BigInt(entries.at(-1)?.seq ?? '0');

/** The ledger read from the start: one unbroken hash chain, or the reason it is not. */
async function wholeLedger(): Promise<LedgerEntry[]> {
  // Parsed as the operator parses them, so the hashes are recomputed from the entries' fields.
  const entries = (await pullLedger(await agentLedgerAccess())).map((raw) => parseEntry(raw));
  const check = verifyChain(entries);
  if (!check.ok)
    throw new Error(`ledger chain broken at seq ${check.seq}: ${check.reason} ${check.detail}`);
  return entries;
}

describe('helm upgrade, uninstall and reinstall on the real node', () => {
  let namespace = '';
  const policy = `lifecycle-${Math.random().toString(36).slice(2, 8)}`;
  /** The ledger as last read: each later read must begin with exactly these entries. */
  let before: LedgerEntry[] = [];

  /**
   * Waits until the operator has collected every entry the agent holds now, then checks the
   * policy's spend against the ledger at the operator's cursor: equal means nothing was lost
   * or counted twice across whatever happened before.
   */
  async function spendMatchesLedger(): Promise<{ spent: bigint; seq: bigint }> {
    const target = lastSeq(await wholeLedger());
    let status: PolicyStatus | undefined;
    await waitFor(
      `the operator to collect to seq ${target}`,
      async () => {
        status = await kubectlJson<PolicyStatus>(['get', 'costpolicy', policy]);
        return (cursorSeq(status.status?.collection?.cursors, realNode().nodeName) ?? 0n) >= target;
      },
      240_000,
    );
    if (status === undefined) throw new Error(`CostPolicy ${policy} was not read`);
    const seq = cursorSeq(status.status?.collection?.cursors, realNode().nodeName) ?? 0n;
    const spent = parseMoney(status.status?.budgets?.find((b) => b.name === 'all')?.spent ?? '0');
    expect(spent).toBe(ledgerSpendNano(await wholeLedger(), spendPolicy(status), seq));
    return { spent, seq };
  }

  /** The ledger still begins with every entry read before, unchanged, and went on. */
  async function ledgerContinues(): Promise<LedgerEntry[]> {
    let now: LedgerEntry[] = [];
    await waitFor(
      'the new agent to append to the ledger',
      async () => {
        now = await wholeLedger().catch(() => []);
        return lastSeq(now) > lastSeq(before);
      },
      180_000,
    );
    expect(now.slice(0, before.length).map((e) => e.hash)).toEqual(before.map((e) => e.hash));
    const starts = now
      .slice(before.length)
      .filter((e) => e.kind === 'marker' && e.event === 'agent-start');
    expect(starts.length).toBeGreaterThan(0);
    // No tick of the burner's was counted twice: its entries' windows never overlap.
    const burner = now
      .filter((e): e is PodUsageEntry => e.kind === 'pod-usage' && e.pod.namespace === namespace)
      .sort((a, b) => (BigInt(a.time.start) < BigInt(b.time.start) ? -1 : 1));
    for (let i = 1; i < burner.length; i++) {
      expect(BigInt(burner[i]?.time.start ?? '0')).toBeGreaterThanOrEqual(
        BigInt(burner[i - 1]?.time.end ?? '0'),
      );
    }
    return now;
  }

  beforeAll(async () => {
    namespace = await createPolicyNamespace('lifecycle', policy);
    await apply([
      {
        apiVersion: 'agentmeter.dev/v1alpha1',
        kind: 'CostPolicy',
        metadata: { name: policy },
        spec: {
          selector: { namespaceSelector: { matchLabels: { 'agentmeter-test': policy } } },
          currency: 'USD',
          rates: { cpuCoreHour: '0.05', memoryGiBHour: '0.01' },
          budgets: [{ name: 'all', amount: '1000', period: 'Monthly', action: 'Notify' }],
        },
      },
      {
        // Runs through the upgrade, the uninstall and the reinstall: usage in every phase.
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'burner', namespace },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'burn',
              image: realNode().images.busybox ?? 'agentmeter.local/busybox:dev',
              imagePullPolicy: 'Never',
              command: ['sh', '-c', 'while :; do :; done'],
              resources: { limits: { cpu: '100m', memory: '16Mi' } },
            },
          ],
        },
      },
    ]);
    await waitForPodPhase(namespace, 'burner', ['Running']);
    await waitFor(
      'the agent to price the burner',
      async () =>
        (await wholeLedger()).some((e) => e.kind === 'pod-usage' && e.cost?.policy.name === policy),
      120_000,
    );
  });

  afterAll(async () => {
    await kubectl(['delete', 'costpolicy', policy, '--ignore-not-found']);
    if (namespace) await deleteNamespace(namespace);
  });

  it('rolls the agent and the operator on a changed value, and the ledger goes on', async () => {
    const { release, namespace: system } = chartRelease();
    await spendMatchesLedger();
    before = await wholeLedger();
    const agentsBefore = await uids(AGENT);
    const operatorsBefore = await uids(OPERATOR);
    const res = await helm(
      [
        'upgrade',
        release,
        `${repoRoot}/charts/agentmeter`,
        '-n',
        system,
        '--reuse-values',
        '--set',
        'agent.logLevel=debug',
        '--set',
        'operator.logLevel=debug',
        '--wait',
        '--timeout',
        '5m',
      ],
      { timeoutMs: 330_000 },
    );
    expect(res.code, res.stderr).toBe(0);
    await waitForRollout(system, 'daemonset/agentmeter-agent');
    await waitForRollout(system, 'deployment/agentmeter-operator');
    const agentsAfter = await uids(AGENT);
    const operatorsAfter = await uids(OPERATOR);
    expect(agentsAfter).toHaveLength(1);
    expect(operatorsAfter).toHaveLength(OPERATOR_REPLICAS);
    expect(agentsAfter.filter((u) => agentsBefore.includes(u))).toEqual([]);
    expect(operatorsAfter.filter((u) => operatorsBefore.includes(u))).toEqual([]);

    const now = await ledgerContinues();
    const { spent, seq } = await spendMatchesLedger();
    process.stdout.write(
      `upgrade: ledger ${lastSeq(before)} -> ${lastSeq(now)} entries, prefix unchanged; ${policy} spent ${spent} nano-USD = ledger to seq ${seq}\n`,
    );
    before = await wholeLedger();
  });

  it('uninstall removes everything the chart made but the CRDs, and keeps the CostPolicies', async () => {
    const { release, namespace: system } = chartRelease();
    const manifest = await helm(['get', 'manifest', release, '-n', system]);
    expect(manifest.code, manifest.stderr).toBe(0);
    const objects: ChartObject[] = parseAllDocuments(manifest.stdout)
      .map((d) => d.toJS() as { kind?: string; metadata?: { name?: string; namespace?: string } })
      .filter((o) => o?.kind && o.metadata?.name)
      .map((o) => ({
        kind: o.kind ?? '',
        name: o.metadata?.name ?? '',
        ...(o.metadata?.namespace ? { namespace: o.metadata.namespace } : {}),
      }));
    expect(objects.some((o) => o.kind === 'DaemonSet')).toBe(true);

    const res = await helm(['uninstall', release, '-n', system, '--wait', '--timeout', '3m'], {
      timeoutMs: 200_000,
    });
    expect(res.code, res.stderr).toBe(0);
    const left: string[] = [];
    for (const o of objects) {
      const got = await kubectl([
        'get',
        o.kind,
        o.name,
        ...(o.namespace ? ['-n', o.namespace] : ['-n', system]),
        '-o',
        'name',
      ]);
      const exists = got.code === 0;
      if (o.kind === 'CustomResourceDefinition') expect(exists, `${o.kind}/${o.name}`).toBe(true);
      else if (exists) left.push(`${o.kind}/${o.name}`);
    }
    expect(left).toEqual([]);
    await waitFor(
      "the chart's pods to terminate",
      async () => (await listPods(system, 'app.kubernetes.io/name=agentmeter')).length === 0,
      120_000,
    );
    const kept = await kubectlJson<PolicyStatus>(['get', 'costpolicy', policy]);
    expect(kept.status?.collection?.cursors).toContain(realNode().nodeName);
  });

  it('reinstalls, and the agent and the operator resume where they stopped', async () => {
    const { release, namespace: system } = chartRelease();
    // As the global setup installed it: the suites after this one find the same release.
    await installChart(realNode(), chartRelease().helm, repoRoot, { release, namespace: system });
    expect(await uids(AGENT)).toHaveLength(1);
    expect(await uids(OPERATOR)).toHaveLength(OPERATOR_REPLICAS);
    const now = await ledgerContinues();
    const { spent, seq } = await spendMatchesLedger();
    process.stdout.write(
      `reinstall: ledger ${lastSeq(before)} -> ${lastSeq(now)} entries, prefix unchanged; ${policy} spent ${spent} nano-USD = ledger to seq ${seq}\n`,
    );
  });
});
