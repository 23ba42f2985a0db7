// The README's main command on the real node, in-process: hack/demo/run.ts against the node and
// the chart release of this run (`bash hack/demo.sh --duration` starts its own node first, which
// the node lock forbids here). Every session must be charged, and the RESULT's total must be the
// operator's CostPolicy status, equal to the ledger's sum.
import { afterAll, describe, expect, it } from 'vitest';
import { runDemo } from '../../hack/demo/run.ts';
import { chartRelease, kubectlOk, realNode } from './support/cluster.ts';

describe('the demo on the real node', () => {
  afterAll(async () => {
    await kubectlOk(['delete', 'costpolicy', 'demo-chargeback', '--ignore-not-found']);
    await kubectlOk(
      ['delete', 'namespace', 'acme-agents', 'acme-batch', 'noisy-neighbour', '--ignore-not-found'],
      { timeoutMs: 180_000 },
    );
  });

  it('charges the runtime and batch sessions and reports the total the operator wrote', async () => {
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

    // Session rows: `namespace/id  pod  cpu  mem  tokens  infra + tokens  total ...`.
    const rows = [
      ...stdout.matchAll(
        /^(acme-[a-z-]+\/\S+)\s+\S+\s+[\d.]+\s+[\d.]+\s+(\S+)\s+[\d.]+ \+ [\d.]+\s+([\d.]+)/gm,
      ),
    ];
    const runtime = rows.filter(([, id]) => id?.startsWith('acme-agents/'));
    expect(runtime.map(([, id]) => id)).toHaveLength(3);
    // The runtime's sessions exported GenAI spans through the OTel SDK: tokens in and out.
    for (const [, , tokens] of runtime) expect(tokens).toMatch(/^[1-9]\d*\/[1-9]\d*$/);
    expect(rows.some(([, id]) => id?.startsWith('acme-batch/'))).toBe(true);
    const operator = /operator, CostPolicy status budget "total":\s+(\S+) USD/.exec(stdout)?.[1];
    const ledger = /agent ledger, priced entries to seq \d+:\s+(\S+) USD/.exec(stdout)?.[1];
    expect(operator).toBeDefined();
    expect(operator).toBe(ledger);
  }, 900_000);
});
