// The one-command demo (README "The two commands"; `bash hack/demo.sh` provisions Node first).
// Starts a real single-node cluster on this machine (hack/real-node.ts: kubelet, containerd,
// runc, CNI, kube-proxy, CoreDNS), installs charts/agentmeter with `helm install`, runs the demo
// workloads as real pods and prints the chargeback table (hack/demo/run.ts). Then it tears the
// node down and puts the host back as it was, unless --keep.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startRealNodeWhenFree, type RealNode } from './real-node.ts';
import { CHART_IMAGES, installChart } from './real-node/chart.ts';
import { runChecked } from './lib/processes.ts';
import { runDemo } from './demo/run.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const USAGE = `Usage: bash hack/demo.sh [--duration SECONDS] [--keep]

Runs agentmeter end to end on a real single-node cluster on this machine (root; see the README,
"The real test node") and prints a chargeback table.
  --duration SECONDS  run the workloads this long, then print the settled table and a RESULT
                      line; exit 0 only if every demo session was charged and the operator's
                      total equals the ledger's (for CI)
  --keep              leave the cluster running afterwards and print how to look around
Without --duration the table refreshes until Ctrl-C, which then settles and prints the total.`;

const log = (line: string): void => void process.stderr.write(`[demo] ${line}\n`);
const out = (text: string): void => void process.stdout.write(text);

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string' },
      keep: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    out(`${USAGE}\n`);
    return 0;
  }
  const durationS = values.duration === undefined ? undefined : Number(values.duration);
  if (durationS !== undefined && (!Number.isInteger(durationS) || durationS < 10))
    throw new Error(`--duration: expected whole seconds, at least 10, got ${values.duration}`);
  const keep = values.keep === true;

  let onSignal: (s: NodeJS.Signals) => void = () => undefined;
  const stopped = new Promise<NodeJS.Signals>((done) => (onSignal = done));
  let signalled = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    // `on`, not `once`: a second Ctrl-C must not kill the demo half-way through its teardown.
    process.on(sig, () => {
      if (!signalled) log(`${sig}: stopping`);
      signalled = true;
      onSignal(sig);
    });

  log(
    'starting the real node (the first run builds its binaries and images; later runs reuse them)',
  );
  let node: RealNode | undefined;
  try {
    node = await startRealNodeWhenFree(
      {
        keep,
        images: ['busybox', 'agent-app', ...CHART_IMAGES],
        log: (line) => log(`node: ${line}`),
      },
      Number(process.env.AGENTMETER_NODE_LOCK_WAIT_MS ?? 600_000),
    );
    const helm = (await runChecked('bash', [join(repoRoot, 'hack', 'ensure-helm.sh')])).trim();
    log('helm install charts/agentmeter (local images, pull policy Never)');
    const chart = await installChart(node, helm, repoRoot, {
      // Shorter ticks than the chart's 10 s, so a minute of demo settles several times.
      extraArgs: ['--set', 'agent.tick=5s'],
    });
    const code = await runDemo({ node, chart, stopped, log, out, durationS });
    if (keep) {
      out(
        `\nThe cluster is still running (--keep):\n` +
          `  export KUBECONFIG=${node.kubeconfig}\n` +
          `  alias kubectl=${node.binaries.kubectl}\n` +
          `  kubectl get pods -A -o wide; kubectl get costpolicy demo-chargeback -o yaml\n` +
          `  ${chart.helm} status ${chart.release} -n ${chart.namespace}\n` +
          `Stop it and restore the host with: node hack/real-node.ts down\n`,
      );
    }
    return code;
  } finally {
    if (node && !keep) {
      log('tearing the node down and restoring the host');
      const diff = await node.stop();
      if (diff.length) log(`the host still differs from before the node:\n  ${diff.join('\n  ')}`);
    }
  }
}

let code = 1;
try {
  code = await main();
} catch (err) {
  process.stderr.write(`[demo] FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
}
process.exit(code);
