// The three views of a pod's usage a metering suite compares: the agent's ledger (pulled as the
// operator pulls it, with a token for the agents' audience), cAdvisor's samples as integers, and
// the kernel's network counters of a pod (its netns).
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chartRelease, kubectlOk } from './cluster.ts';
import { listPods, podCgroupDir, type PodStatus } from './pods.ts';

const AGENT = 'app.kubernetes.io/component=agent';
const OPERATOR = 'app.kubernetes.io/component=operator';
/** The chart's agent.port. */
const AGENT_PORT = 9464;

/** The agent pod's ledger pull API and a token the operator's ServiceAccount holds for it. */
export async function agentLedgerAccess(): Promise<{ url: string; token: string }> {
  const { namespace } = chartRelease();
  const [agent] = await listPods(namespace, AGENT);
  const [operator] = await listPods(namespace, OPERATOR);
  if (!agent?.status.podIP || !operator?.spec.serviceAccountName) {
    throw new Error('the agent pod has no IP yet or the operator pod is missing');
  }
  const token = (
    await kubectlOk([
      'create',
      'token',
      operator.spec.serviceAccountName,
      '-n',
      namespace,
      '--audience',
      'agentmeter',
    ])
  ).trim();
  return { url: `http://${agent.status.podIP}:${AGENT_PORT}`, token };
}

export { pullLedger } from '../../../hack/lib/ledger-api.ts';

/**
 * A Prometheus sample value as an integer of `scale` units (1e9 for seconds → ns), exactly:
 * the text's decimal digits and exponent, never a float.
 */
export function scaledSample(text: string, scale: bigint): bigint {
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!match) throw new Error(`not a decimal sample value: ${text}`);
  const [, sign, whole, fraction = '', exp = '0'] = match;
  let digits = BigInt(`${whole}${fraction}`) * scale;
  let shift = Number(exp) - fraction.length;
  for (; shift > 0; shift--) digits *= 10n;
  for (; shift < 0; shift++) digits /= 10n;
  return sign === '-' ? -digits : digits;
}

/** The pod-level (container="") sample of a cAdvisor series for one pod, if it has one. */
export function cadvisorPodSample(
  text: string,
  metric: string,
  pod: { namespace: string; name: string },
): string | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`)) continue;
    const labels = line.slice(metric.length + 1, line.lastIndexOf('}'));
    if (
      labels.includes('container=""') &&
      labels.includes(`namespace="${pod.namespace}"`) &&
      labels.includes(`pod="${pod.name}"`)
    ) {
      return line
        .slice(line.lastIndexOf('}') + 1)
        .trim()
        .split(' ')[0];
    }
  }
  return undefined;
}

/**
 * The pod's network counters as its network namespace shows them (cgroup v1 keeps none): eth0
 * of /proc/<pid>/net/dev for a process of the pod's sandbox.
 */
export async function podNetCounters(pod: PodStatus): Promise<{ rx: bigint; tx: bigint }> {
  const dir = podCgroupDir('cpuacct', pod);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const pid = (await readFile(join(dir, entry.name, 'cgroup.procs'), 'utf8')).split('\n')[0];
    if (!pid) continue;
    const dev = await readFile(`/proc/${pid}/net/dev`, 'utf8');
    const line = dev.split('\n').find((l) => l.trim().startsWith('eth0:'));
    if (!line) throw new Error(`pod ${pod.metadata.name} has no eth0 in /proc/${pid}/net/dev`);
    const fields = line.split(':')[1]?.trim().split(/\s+/) ?? [];
    return { rx: BigInt(fields[0] ?? '0'), tx: BigInt(fields[8] ?? '0') };
  }
  throw new Error(`pod ${pod.metadata.name} has no process in ${dir}`);
}
