// Health of the real agent process under an OTLP flood: `clients` connections POST 5,000-span
// export requests back to back from a pod's address while /healthz and /readyz are probed once a
// second with a 1 s timeout (the kubelet's default). Prints probe latencies, timeouts, the
// flood's answers by status and the machine.
// Run: node test/bench/health-under-flood.ts [seconds, default 30] [clients, default 200]
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { startControlPlane } from '../../hack/control-plane.ts';
import { AgentProcess } from '../support/agent-process.ts';
import { imageEnv, nodeEntrypoint } from '../support/dockerfile.ts';
import { startFlood, startProber, type ProbeResult } from '../support/otlp-flood.ts';

const SECONDS = Number(process.argv[2] ?? '30');
const CLIENTS = Number(process.argv[3] ?? '200');
const SPANS = 5000;
const NODE = 'flood-node';
const AGENT_HOST = '127.0.0.80';
const POD_IP = '127.0.0.81';
const IMAGE = nodeEntrypoint('node-agent/Dockerfile');

function summary(results: readonly ProbeResult[], path: string): string {
  const mine = results.filter((r) => r.path === path);
  const answered = mine.flatMap((r) => (r.ms === null ? [] : [r.ms])).sort((a, b) => a - b);
  const pick = (p: number): string =>
    answered.length === 0
      ? '-'
      : (
          answered[Math.min(answered.length - 1, Math.floor((p / 100) * answered.length))] ?? 0
        ).toFixed(0);
  const timedOut = mine.filter((r) => r.ms === null).length;
  const failed = mine.filter((r) => r.ms !== null && r.status !== 200).length;
  return `${path}: ${mine.length} probes, ${timedOut} timed out, ${failed} answered not-OK; answered in p50 ${pick(50)} ms, p99 ${pick(99)} ms, max ${pick(100)} ms`;
}

async function main(): Promise<void> {
  const plane = await startControlPlane();
  const work = await mkdtemp(join(tmpdir(), 'agentmeter-flood-'));
  let agent: AgentProcess | undefined;
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(plane.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    const namespace = `flood-${randomBytes(3).toString('hex')}`;
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNode({ body: { metadata: { name: NODE } } });
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'runtime' },
        spec: { nodeName: NODE, containers: [{ name: 'main', image: 'example.invalid/a:1' }] },
      },
    });
    await core.replaceNamespacedPodStatus({
      namespace,
      name: 'runtime',
      body: {
        metadata: { name: 'runtime', namespace },
        status: { phase: 'Running', podIP: POD_IP, podIPs: [{ ip: POD_IP }] },
      },
    });
    agent = await AgentProcess.start({
      nodeName: NODE,
      kubeconfig: plane.kubeconfig,
      stateDir: work,
      host: AGENT_HOST,
      extraArgs: ['--log-level=warn'],
      entry: fileURLToPath(new URL('../../node-agent/src/main.ts', import.meta.url)),
      env: imageEnv('node-agent/Dockerfile'),
      nodeFlags: IMAGE.flags,
    });
    await agent.waitReady(60_000);
    const prober = startProber(agent.healthUrl, ['/healthz', '/readyz'], 1000);
    const flood = startFlood({
      otlpUrl: agent.otlpUrl,
      localAddress: POD_IP,
      clients: CLIENTS,
      spans: SPANS,
      namespace,
    });
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const results = await prober.stop();
    const stats = await flood.stop();
    process.stdout.write(
      [
        `machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, Linux ${release()}, Node ${process.version}`,
        `flood: ${CLIENTS} clients x ${SPANS}-span JSON requests for ${SECONDS} s, agent flags ${IMAGE.flags.join(' ')}`,
        `answers: ${[...stats.byStatus].map(([s, n]) => `${s}=${n}`).join(' ')}, 429 with Retry-After ${stats.retryAfter}, errors ${stats.errors}`,
        summary(results, '/healthz'),
        summary(results, '/readyz'),
        '',
      ].join('\n'),
    );
  } finally {
    await agent?.kill9();
    await plane.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
