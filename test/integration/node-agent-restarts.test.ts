// kill -9 the agent 20 times mid-tick and restart it: no usage of a live cgroup is lost or
// counted twice, the hash chain verifies end to end, and a torn write is repaired.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, truncate, stat } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import {
  usageFromWire,
  verifyChain,
  type LedgerEntry,
  type MarkerEntry,
  type PodUsageEntry,
} from '@agentmeter/crds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess } from '../support/agent-process.ts';
import {
  createPodCgroup,
  freeze,
  removePrefix,
  testCgroupPrefix,
  type TestPodCgroup,
} from '../support/cgroups.ts';
import { adminKubeConfig, controlPlane, deleteTestNamespace } from '../support/kube.ts';

const NODE = hostname().toLowerCase();
const PREFIX = testCgroupPrefix('kill');
const KILLS = 20;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Cuts the newest segment in the middle of its last line, as a crash mid-write would. */
async function tearTail(stateDir: string): Promise<void> {
  const dir = join(stateDir, 'ledger');
  const segments = (await readdir(dir)).filter((f) => f.endsWith('.ndjson')).sort();
  const last = join(dir, segments[segments.length - 1] ?? '');
  const size = (await stat(last)).size;
  const text = await readFile(last, 'utf8');
  const lastLineStart = text.lastIndexOf('\n', text.length - 2) + 1;
  await truncate(last, lastLineStart + Math.floor((size - lastLineStart) / 2));
}

describe('node agent under kill -9', () => {
  const namespace = `kill-${randomBytes(3).toString('hex')}`;
  let group: TestPodCgroup;
  let stateDir: string;
  let uid = '';
  let entries: LedgerEntry[] = [];
  let kernelCpu = 0n;
  let tears = 0;

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'agentmeter-kill-'));
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    const pod = await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'burner' },
        spec: { nodeName: NODE, containers: [{ name: 'main', image: 'example.invalid/app:1' }] },
      },
    });
    uid = pod.metadata?.uid ?? '';
    const start = (): Promise<AgentProcess> =>
      AgentProcess.start({
        nodeName: NODE,
        kubeconfig: controlPlane().kubeconfig,
        stateDir,
        host: '127.0.0.3',
        tick: '1s',
        token: controlPlane().admin.token,
      });

    let agent = await start();
    await agent.waitReady();
    // Created after the first start: every nanosecond of its CPU must reach the ledger once.
    group = await createPodCgroup({ uid, prefix: PREFIX });
    const burner = group.run('sh', ['-c', 'while :; do :; done']);

    for (let i = 0; i < KILLS; i++) {
      // Random points across the tick, including during the tick's read and fsync.
      await sleep(700 + Math.floor(Math.random() * 1600));
      await agent.kill9();
      if (i % 5 === 2) {
        await tearTail(stateDir);
        tears++;
      }
      agent = await start();
      await agent.waitReady();
    }
    // Freeze the burner: from here the kernel's counter no longer moves.
    await freeze(burner);
    kernelCpu = BigInt(
      (await readFile(join(group.podDir('cpuacct'), 'cpuacct.usage'), 'utf8')).trim(),
    );
    // The agent's last tick on shutdown reads the frozen counter; a fresh start serves it all.
    expect(await agent.stop()).toBe(0);
    const reader = await start();
    await reader.waitReady();
    entries = await reader.ledger();
    await reader.stop();
  }, 300_000);

  afterAll(async () => {
    await group?.remove();
    await removePrefix(PREFIX);
    await deleteTestNamespace(namespace);
    await rm(stateDir, { recursive: true, force: true });
  });

  it('verifies the hash chain end to end with contiguous sequence numbers', () => {
    expect(verifyChain(entries)).toMatchObject({ ok: true });
    entries.forEach((entry, i) => expect(entry.seq).toBe(String(i + 1)));
  });

  it('records every start and every repaired torn write', () => {
    const markers = entries.filter((e): e is MarkerEntry => e.kind === 'marker');
    // A tear can cut the newest batch, which after a quick kill is that start's own marker.
    expect(markers.filter((m) => m.event === 'agent-start').length).toBeGreaterThanOrEqual(
      KILLS + 2 - tears,
    );
    expect(markers.filter((m) => m.event === 'torn-tail-repaired').length).toBeGreaterThanOrEqual(
      tears,
    );
  });

  it("counts the live cgroup's CPU exactly once across every crash", () => {
    const counted = entries
      .filter((e): e is PodUsageEntry => e.kind === 'pod-usage' && e.pod.uid === uid)
      .reduce((sum, e) => sum + usageFromWire(e.usage).cpuNs, 0n);
    expect(counted).toBe(kernelCpu);
  });
});
