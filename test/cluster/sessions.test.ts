// Sessions on the real node: a Job whose pod template carries the session annotation is charged
// to that session, all of it; an app on the standard OTel SDK exports to the chart's node-local
// OTLP Service by its DNS name and its sessions are charged with their tokens.
import {
  addUsage,
  usageFromWire,
  zeroUsage,
  type LedgerEntry,
  type PodUsageEntry,
  type CallsEntry,
  type Usage,
} from '@agentmeter/crds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.ts';
import { apply, kubectlOk, otlpServiceEndpoint, realNode } from './support/cluster.ts';
import {
  busyboxContainer,
  createNamespace,
  deleteNamespace,
  listPods,
  podCgroupCounters,
  waitForPodPhase,
  type PodStatus,
} from './support/pods.ts';
import { agentLedgerAccess, pullLedger } from './support/views.ts';

const SESSION_ANNOTATION = 'agentmeter.dev/session-id';

function podEntries(entries: readonly LedgerEntry[], uid: string): PodUsageEntry[] {
  return entries.filter((e): e is PodUsageEntry => e.kind === 'pod-usage' && e.pod.uid === uid);
}

const isSession = (ref: { namespace: string; id: string } | null, ns: string, id: string) =>
  ref !== null && ref.namespace === ns && ref.id === id;

/** Usage of the pod's entries charged to one session (or to none: `id` null). */
function charged(entries: readonly PodUsageEntry[], ns: string, id: string | null): Usage {
  let sum = zeroUsage();
  for (const e of entries) {
    for (const share of e.shares) {
      const match = id === null ? share.session === null : isSession(share.session, ns, id);
      if (match) sum = addUsage(sum, usageFromWire(share.usage));
    }
  }
  return sum;
}

const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

/** Waits until the ledger holds a whole tick that began after `t`: everything before is settled. */
async function ledgerPast(t: bigint): Promise<LedgerEntry[]> {
  const access = await agentLedgerAccess();
  let entries: LedgerEntry[] = [];
  await waitFor(
    'the agent to settle a tick that began after the work ended',
    async () => {
      entries = await pullLedger(access);
      return entries.some((e) => e.kind === 'node-usage' && BigInt(e.time.start) > t);
    },
    120_000,
  );
  return entries;
}

describe('sessions on the real node', () => {
  let namespace = '';

  beforeAll(async () => {
    namespace = await createNamespace('sessions');
  });

  afterAll(async () => {
    if (namespace) await deleteNamespace(namespace);
  });

  it('charges a Job annotated in its pod template to its session, all of it', async () => {
    await apply([
      {
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: { name: 'run-1', namespace },
        spec: {
          backoffLimit: 0,
          template: {
            metadata: { annotations: { [SESSION_ANNOTATION]: 'run-1' } },
            spec: {
              restartPolicy: 'Never',
              // A fixed amount of work, a few seconds of CPU.
              containers: [
                busyboxContainer('work', 'i=0; while [ $i -lt 1500000 ]; do i=$((i+1)); done'),
              ],
            },
          },
        },
      },
    ]);
    let pod: PodStatus | undefined;
    await waitFor('the Job pod', async () => {
      [pod] = await listPods(namespace, 'job-name=run-1');
      return pod !== undefined;
    });
    const name = pod?.metadata.name ?? '';
    pod = await waitForPodPhase(namespace, name, ['Running', 'Succeeded']);
    // The cgroup as last seen before the kubelet removes it: a lower bound of the pod's CPU.
    let seenCpuNs = 0n;
    await waitFor(
      'the Job to complete',
      async () => {
        const counters = await podCgroupCounters(pod as PodStatus).catch(() => undefined);
        if (counters && counters.cpuNs > seenCpuNs) seenCpuNs = counters.cpuNs;
        return (await waitForPodPhase(namespace, name, ['Succeeded'], 1_000).catch(() => null))
          ? true
          : false;
      },
      180_000,
    );
    const entries = podEntries(await ledgerPast(nowNs()), pod?.metadata.uid ?? '');
    expect(entries.length).toBeGreaterThan(0);
    const total = entries.reduce((s, e) => addUsage(s, usageFromWire(e.usage)), zeroUsage());
    const session = charged(entries, namespace, 'run-1');
    const unattributed = charged(entries, namespace, null);
    process.stdout.write(
      `job pod ${name}: cpu agent ${total.cpuNs} ns (session ${session.cpuNs}, unattributed ${unattributed.cpuNs}), cgroup last seen ${seenCpuNs} ns\n`,
    );
    expect(seenCpuNs).toBeGreaterThan(500_000_000n);
    expect(total.cpuNs).toBeGreaterThanOrEqual(seenCpuNs);
    expect(session).toEqual(total);
    expect(unattributed.cpuNs).toBe(0n);
    expect(unattributed.memoryByteSeconds).toBe(0n);
  });

  it("charges the OTel SDK app's sessions, exported to the node-local OTLP Service by name", async () => {
    const endpoint = await otlpServiceEndpoint();
    // No k8s.pod.uid resource attribute: the agent can only charge the spans if it sees the
    // pod's own IP as their source, after kube-proxy's DNAT to the agent.
    await apply([
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'agent-app', namespace },
        spec: {
          containers: [
            {
              name: 'app',
              image: realNode().images['agent-app'] ?? 'agentmeter.local/agent-app:dev',
              imagePullPolicy: 'Never',
              env: [
                { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: endpoint },
                { name: 'PORT', value: '8080' },
              ],
            },
          ],
        },
      },
    ]);
    const pod = await waitForPodPhase(namespace, 'agent-app', ['Running']);
    const base = `http://${pod.status.podIP}:8080`;
    await waitFor('the app to answer', async () => {
      return (await fetch(`${base}/healthz`).catch(() => undefined))?.ok === true;
    });
    const res = await fetch(`${base}/sessions/chat-1?turns=3&tools=1&cpu_ms=200`, {
      method: 'POST',
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const answer = (await res.json()) as { inputTokens: string; outputTokens: string };
    expect((await fetch(`${base}/flush`, { method: 'POST' })).ok).toBe(true);
    const entries = await ledgerPast(nowNs());
    const calls = entries.filter(
      (e): e is CallsEntry => e.kind === 'calls' && isSession(e.session, namespace, 'chat-1'),
    );
    expect(calls.length).toBeGreaterThan(0);
    for (const c of calls) expect(c.pod.uid).toBe(pod.metadata.uid);
    const sumTokens = (key: 'input' | 'output'): bigint =>
      calls.reduce(
        (s, e) => s + e.calls.reduce((m, c) => m + BigInt(c.tokens?.[key] ?? '0'), 0n),
        0n,
      );
    expect(sumTokens('input')).toBe(BigInt(answer.inputTokens));
    expect(sumTokens('output')).toBe(BigInt(answer.outputTokens));
    // One chat per turn and one tool call per turn, each once.
    const kinds = calls.flatMap((e) => e.calls.map((c) => c.kind));
    expect(kinds.filter((k) => k === 'model')).toHaveLength(3);
    expect(kinds.filter((k) => k === 'tool')).toHaveLength(3);
    const cpu = charged(podEntries(entries, pod.metadata.uid), namespace, 'chat-1').cpuNs;
    process.stdout.write(
      `agent-app ${pod.status.podIP} -> ${endpoint}: session chat-1 charged ${cpu} ns CPU, ${answer.inputTokens}/${answer.outputTokens} tokens; source pod IP survived kube-proxy\n`,
    );
    expect(cpu).toBeGreaterThan(0n);
    await kubectlOk(['delete', 'pod', 'agent-app', '-n', namespace, '--wait=false']);
  });
});
