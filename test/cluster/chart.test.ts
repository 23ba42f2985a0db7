// charts/agentmeter installed for real by the global setup: the agent as a DaemonSet, the operator
// as its two-replica Deployment with leader election, each under its own ServiceAccount with the
// projected tokens the kubelet writes into the pods.
import { describe, expect, it } from 'vitest';
import { chartRelease, helm, kubectlJson } from './support/cluster.ts';
import { execInPod, listPods, type PodStatus } from './support/pods.ts';

interface Workload {
  spec: {
    replicas?: number;
    strategy?: { type?: string };
    template: { spec: { serviceAccountName: string } };
  };
  status: {
    desiredNumberScheduled?: number;
    numberReady?: number;
    readyReplicas?: number;
    availableReplicas?: number;
  };
}

const AGENT = 'app.kubernetes.io/component=agent';
const OPERATOR = 'app.kubernetes.io/component=operator';

/** The claims of a JWT (its middle part), which the apiserver signed. */
function jwtClaims(token: string): { aud: string[]; sub: string; exp: number } {
  const payload = token.trim().split('.')[1] ?? '';
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
    aud: string[];
    sub: string;
    exp: number;
  };
}

/** The chart's workloads of one kind and component in its namespace. */
async function workloads(
  kind: 'daemonsets' | 'deployments',
  selector: string,
): Promise<Workload[]> {
  const { namespace } = chartRelease();
  return (await kubectlJson<{ items: Workload[] }>(['get', kind, '-n', namespace, '-l', selector]))
    .items;
}

async function readFileInPod(pod: PodStatus, path: string): Promise<string> {
  const res = await execInPod(pod.metadata.namespace, pod.metadata.name, [
    'node',
    '-e',
    `process.stdout.write(require('node:fs').readFileSync(${JSON.stringify(path)}, 'utf8'))`,
  ]);
  if (res.code !== 0) throw new Error(`reading ${path} in ${pod.metadata.name}: ${res.stderr}`);
  return res.stdout;
}

describe('helm install charts/agentmeter on the real node', () => {
  it('is a deployed release', async () => {
    const { release, namespace } = chartRelease();
    const res = await helm(['status', release, '-n', namespace, '-o', 'json']);
    expect(res.code, res.stderr).toBe(0);
    expect((JSON.parse(res.stdout) as { info: { status: string } }).info.status).toBe('deployed');
  });

  it('runs the agent DaemonSet on the node, ready', async () => {
    const { namespace } = chartRelease();
    const sets = await workloads('daemonsets', AGENT);
    expect(sets).toHaveLength(1);
    expect(sets[0]?.status.desiredNumberScheduled).toBe(1);
    expect(sets[0]?.status.numberReady).toBe(1);
    const pods = await listPods(namespace, AGENT);
    expect(pods.map((p) => p.status.phase)).toEqual(['Running']);
  });

  // The test install keeps the store embedded (one SQLite file, one writer), so the chart runs
  // one operator, replaced by Recreate, never two side by side; it still holds the Lease.
  it('runs one operator on the embedded store, replaced by Recreate, holding the Lease', async () => {
    const { namespace } = chartRelease();
    const deployments = await workloads('deployments', OPERATOR);
    expect(deployments).toHaveLength(1);
    expect(deployments[0]?.spec.replicas).toBe(1);
    expect(deployments[0]?.spec.strategy?.type).toBe('Recreate');
    expect(deployments[0]?.status.readyReplicas).toBe(1);
    const pods = (await listPods(namespace, OPERATOR)).map((p) => p.metadata.name);
    const leases = await kubectlJson<{ items: { spec: { holderIdentity?: string } }[] }>([
      'get',
      'leases',
      '-n',
      namespace,
    ]);
    const holders = leases.items.map((l) => l.spec.holderIdentity ?? '').filter(Boolean);
    expect(holders).toHaveLength(1);
    expect(pods.some((name) => holders[0]?.includes(name))).toBe(true);
  });

  it('gives each component its own ServiceAccount and a projected, audience-bound token', async () => {
    const { namespace } = chartRelease();
    const [agent] = await listPods(namespace, AGENT);
    const [operator] = await listPods(namespace, OPERATOR);
    if (!agent || !operator) throw new Error('agent or operator pod missing');
    const agentSa = agent.spec.serviceAccountName ?? '';
    const operatorSa = operator.spec.serviceAccountName ?? '';
    expect(agentSa).not.toBe(operatorSa);
    for (const sa of [agentSa, operatorSa]) {
      await kubectlJson(['get', 'serviceaccount', sa, '-n', namespace]);
    }
    // The API token the kubelet projects into every pod, for the apiserver's audiences.
    const apiToken = jwtClaims(
      await readFileInPod(agent, '/var/run/secrets/kubernetes.io/serviceaccount/token'),
    );
    expect(apiToken.sub).toBe(`system:serviceaccount:${namespace}:${agentSa}`);
    // The operator's ledger token: its own projected volume, for the agents' audience only.
    const ledger = operator.spec.volumes?.find((v) =>
      v.projected?.sources.some((s) => s.serviceAccountToken),
    );
    const source = ledger?.projected?.sources.find(
      (s) => s.serviceAccountToken,
    )?.serviceAccountToken;
    expect(source?.audience).toBe('agentmeter');
    const ledgerToken = jwtClaims(
      await readFileInPod(operator, `/var/run/secrets/agentmeter/ledger/${source?.path}`),
    );
    expect(ledgerToken.sub).toBe(`system:serviceaccount:${namespace}:${operatorSa}`);
    expect(ledgerToken.aud).toEqual(['agentmeter']);
    expect(ledgerToken.exp * 1000).toBeGreaterThan(Date.now());
  });
});
