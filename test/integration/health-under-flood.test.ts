// Issue 15, "health that survives load": the real agent process under an OTLP flood from a pod's
// own address (so every span is decoded and ingested, not refused cheaply), probed the way the
// chart's probes do it: a fresh connection once a second from another process, with the chart's
// timeout. Every probe must be answered in time, liveness must hold throughout, and the flood
// past the agent's bound must get 429 with Retry-After.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess } from '../support/agent-process.ts';
import { adminKubeConfig } from '../support/kube.ts';
import { startPlaneAgent } from '../support/plane-agent.ts';
import { startFlood, startProber } from '../support/otlp-flood.ts';
import { createRunningPod } from '../support/running-pod.ts';

const RUN = randomBytes(3).toString('hex');
const NODE = `flood-node-${RUN}`;
const NAMESPACE = `flood-${RUN}`;
const AGENT_HOST = '127.0.0.100';
const POD_IP = '127.0.0.101';
const FLOOD_SECONDS = 15;

/** The chart's probe timeout; the kubelet's default of 1 s when the chart sets none. */
function chartProbeTimeoutMs(): number {
  const values = parse(
    readFileSync(new URL('../../charts/agentmeter/values.yaml', import.meta.url), 'utf8'),
  ) as { agent: { probeTimeoutSeconds?: number } };
  return (values.agent.probeTimeoutSeconds ?? 1) * 1000;
}

describe('health under an OTLP flood', () => {
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  let agent: AgentProcess;
  let stateDir: string;

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'agentmeter-flood-'));
    await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
    await createRunningPod(core, {
      namespace: NAMESPACE,
      name: 'runtime',
      nodeName: NODE,
      ip: POD_IP,
    });
    agent = await startPlaneAgent({
      nodeName: NODE,
      stateDir,
      host: AGENT_HOST,
      extraArgs: ['--log-level=warn'],
    });
  });

  afterAll(async () => {
    await agent?.kill9();
    await core.deleteNamespace({ name: NAMESPACE }).catch(() => undefined);
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  it('answers every probe within the chart timeout, stays alive, and sheds load with 429 + Retry-After', async () => {
    const timeoutMs = chartProbeTimeoutMs();
    const prober = startProber(agent.healthUrl, ['/healthz', '/readyz'], timeoutMs);
    const flood = startFlood({
      otlpUrl: agent.otlpUrl,
      localAddress: POD_IP,
      clients: 100,
      spans: 5000,
      namespace: NAMESPACE,
    });
    await new Promise((r) => setTimeout(r, FLOOD_SECONDS * 1000));
    const probes = await prober.stop();
    const stats = await flood.stop();
    const line = (path: string) =>
      probes
        .filter((p) => p.path === path)
        .map((p) => (p.ms === null ? 'timeout' : `${p.status}`))
        .join(' ');
    process.stdout.write(
      `flood answers ${JSON.stringify(Object.fromEntries(stats.byStatus))}; ` +
        `/healthz ${line('/healthz')}; /readyz ${line('/readyz')}\n`,
    );
    expect(probes.length).toBeGreaterThanOrEqual(2 * (FLOOD_SECONDS - 3));
    // Answered in time, every one; liveness never failed, so the kubelet would not restart it.
    expect(probes.filter((p) => p.ms === null)).toEqual([]);
    expect(probes.filter((p) => p.path === '/healthz' && p.status !== 200)).toEqual([]);
    // The flood was real: spans were taken, and the excess refused the way OTLP clients expect.
    expect(stats.byStatus.get(200) ?? 0).toBeGreaterThan(0);
    expect(stats.byStatus.get(429) ?? 0).toBeGreaterThan(0);
    expect(stats.retryAfter).toBe(stats.byStatus.get(429));
    // After the flood the agent is ready again.
    await agent.waitReady();
  });
});
