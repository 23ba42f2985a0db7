// The README's main command on the real node, in-process (`bash hack/demo.sh` starts a node of
// its own, which the node lock forbids here), run after every other suite (test/setup/sequencer.ts):
// on a node whose agent, ledger and operator the upgrade, GPU and fault suites have restarted and
// used. Before it, an earlier CostPolicy of the demo's name spends and is deleted, as a demo run
// before this one leaves it: the ledger and the operator's store still hold that spend under the
// name. Every session must be charged, and the operator's total must equal the ledger's sum over
// exactly the entries the demo policy covers (not the earlier one's), to the nano-unit.
import { parseMoney, type CostPolicy, type LedgerEntry } from '@agentmeter/crds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemo } from '../../hack/demo/run.ts';
import { cursorSeq, ledgerSpendNano, spendPolicy } from '../../hack/demo/spend.ts';
import { waitFor } from '../support/wait.ts';
import {
  apply,
  chartRelease,
  kubectl,
  kubectlJson,
  kubectlOk,
  realNode,
} from './support/cluster.ts';
import { busyboxContainer, deleteNamespace, singleContainerPod } from './support/pods.ts';
import { namespacePolicy, createPolicyNamespace } from './support/policies.ts';
import { agentLedgerAccess, pullLedger } from './support/views.ts';

const POLICY = 'demo-chargeback';

/** Entries up to `seq` priced under `name`, whatever the policy of that name was then. */
function pricedUnderName(entries: readonly LedgerEntry[], name: string, seq: bigint): bigint {
  let sum = 0n;
  for (const e of entries) {
    if (BigInt(e.seq) > seq) continue;
    if (e.kind !== 'pod-usage' && e.kind !== 'tokens' && e.kind !== 'calls') continue;
    if (e.cost?.policy.name === name) sum += BigInt(e.cost.totalNano);
  }
  return sum;
}

/** The demo policy's Policy-scope budget, which the demo's total reads. */
const TOTAL = 'total';

const totalSpent = (p: CostPolicy): bigint =>
  parseMoney(p.status?.budgets?.find((b) => b.name === TOTAL)?.spent ?? '0');

describe('the demo on the real node, after the other suites', () => {
  let earlier = '';

  beforeAll(async () => {
    // An earlier policy of the demo's name with the same budget, pricing a burner, counted by
    // the operator, then deleted with its namespace once the agent settled past the burner.
    earlier = await createPolicyNamespace('demo-earlier', POLICY);
    await apply([
      namespacePolicy(POLICY, {
        rates: { cpuCoreHour: '36' },
        budgets: [{ name: TOTAL, amount: '1000', period: 'Monthly', action: 'Notify' }],
      }),
      singleContainerPod(
        'burner',
        earlier,
        busyboxContainer('burn', 'while :; do :; done', {
          resources: { limits: { cpu: '100m', memory: '16Mi' } },
        }),
      ),
    ]);
    await waitFor(
      'the operator to count the earlier policy',
      async () => totalSpent(await kubectlJson<CostPolicy>(['get', 'costpolicy', POLICY])) > 0n,
      240_000,
    );
    await deleteNamespace(earlier);
    earlier = '';
    const goneNs = BigInt(Date.now()) * 1_000_000n;
    const access = await agentLedgerAccess();
    await waitFor(
      'the agent to settle a tick that began after the burner was gone',
      async () =>
        (await pullLedger(access)).some(
          (e) => e.kind === 'node-usage' && BigInt(e.time.start) > goneNs,
        ),
      240_000,
    );
    await kubectlOk(['delete', 'costpolicy', POLICY, '--wait=true']);
  });

  afterAll(async () => {
    if (earlier) await deleteNamespace(earlier);
    await kubectlOk(['delete', 'costpolicy', POLICY, '--ignore-not-found']);
    await kubectl([
      'delete',
      'serviceaccount',
      'demo-reader',
      '-n',
      chartRelease().namespace,
      '--ignore-not-found',
    ]);
    await kubectlOk(
      ['delete', 'namespace', 'acme-agents', 'acme-batch', 'noisy-neighbour', '--ignore-not-found'],
      { timeoutMs: 180_000 },
    );
  });

  it("charges every session; the operator's total is the ledger's sum of the policy's entries", async () => {
    let stdout = '';
    const code = await runDemo({
      node: realNode(),
      chart: chartRelease(),
      durationS: 45,
      stopped: new Promise(() => undefined),
      log: (line) => process.stderr.write(`[demo] ${line}\n`),
      out: (text) => void (stdout += text),
    });
    process.stdout.write(stdout);
    expect(code, stdout).toBe(0);
    expect(stdout).toMatch(/^RESULT: OK: \d+ sessions charged; total spend \d/m);
    const rows = [...stdout.matchAll(/^(acme-[a-z-]+\/\S+)\s+\S+\s+[\d.]+\s+[\d.]+\s+(\S+)/gm)];
    const runtime = rows.filter(([, id]) => id?.startsWith('acme-agents/'));
    expect(runtime.map(([, id]) => id)).toHaveLength(3);
    // The runtime's sessions exported GenAI spans through the OTel SDK: tokens in and out.
    for (const [, , tokens] of runtime) expect(tokens).toMatch(/^[1-9]\d*\/[1-9]\d*$/);
    expect(rows.some(([, id]) => id?.startsWith('acme-batch/'))).toBe(true);

    // Checked again here from the status and the ledger as they stand now, one read each.
    const policy = await kubectlJson<CostPolicy>(['get', 'costpolicy', POLICY]);
    const seq = cursorSeq(policy.status?.collection?.cursors, realNode().nodeName) ?? 0n;
    const spent = totalSpent(policy);
    const entries = await pullLedger(await agentLedgerAccess());
    const covered = ledgerSpendNano(entries, spendPolicy(policy), seq);
    const underName = pricedUnderName(entries, POLICY, seq);
    process.stdout.write(
      `demo after the suites: status ${spent} nano-USD; ledger to seq ${seq}: ${covered} covered by ${POLICY}, ${underName - covered} priced under its name before it was created\n`,
    );
    expect(covered).toBeGreaterThan(0n);
    // The earlier policy's spend is in the ledger under the name, and is not the demo's.
    expect(underName).toBeGreaterThan(covered);
    expect(spent).toBe(covered);
  }, 900_000);
});
