// Runaway-session guards end to end: the operator as its own process (the chart's
// ServiceAccount and RBAC) against the real apiserver and a real node agent metering real
// processes in real cgroups. A session that burns past a spend-per-minute guard is marked over
// budget on the agent, an Event names the guard, a calm session beside it is left alone, and a
// new value of the clear annotation lifts the mark.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  EventsV1Api,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type { CostPolicy } from '@agentmeter/crds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess, freePort } from '../support/agent-process.ts';
import {
  createPodCgroup,
  removePrefix,
  writeControl,
  type TestPodCgroup,
} from '../support/cgroups.ts';
import { adminKubeConfig, controlPlane } from '../support/kube.ts';
import {
  OperatorProcess,
  agentHostName,
  applyOperatorRbac,
  eventually,
  publishAgent,
  serviceAccountToken,
  writeTokenFiles,
} from '../support/operator-process.ts';
import { startTestStore, type TestStore } from '../support/store-engine.ts';

const RUN = randomBytes(3).toString('hex');
const SYSTEM = `am-gd-${RUN}`;
const RELEASE = `gd${RUN}`;
const PREFIX = `agentmeter-gd-${RUN}`;
const POLICY = `gd-it-${RUN}`;
const NODE = `gd-node-${RUN}`;
const HOST = '127.0.0.13';
const NS = `gd-a-${RUN}`;
// A fifth of a core and a hundredth of one: 12 and 0.6 units a minute at the policy's rate.
const SESSIONS = [
  { id: 'loop', pod: 'looper', quota: '20000' },
  { id: 'calm', pod: 'sleeper', quota: '1000' },
] as const;
const group = 'agentmeter.dev';
const version = 'v1alpha1';

const kc = adminKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const discovery = kc.makeApiClient(DiscoveryV1Api);
const eventsApi = kc.makeApiClient(EventsV1Api);
const rbac = kc.makeApiClient(RbacAuthorizationV1Api);

async function policy(): Promise<CostPolicy> {
  return (await custom.getClusterCustomObject({
    group,
    version,
    plural: 'costpolicies',
    name: POLICY,
  })) as CostPolicy;
}

describe('runaway-session guards in the operator round', () => {
  let agent: AgentProcess;
  let operator: OperatorProcess;
  const groups: TestPodCgroup[] = [];
  const burners = new Map<string, { kill(signal: NodeJS.Signals): boolean }>();
  let dir: string;
  let store: TestStore;

  const marked = async (id: string): Promise<boolean> => {
    // Reading a mark needs a caller allowed to read the session: the admin token here.
    const res = await fetch(`${agent.url}/v1/sessions/${NS}/${id}/over-budget`, {
      headers: { authorization: `Bearer ${agent.token ?? ''}` },
    });
    if (!res.ok) throw new Error(`GET over-budget: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { overBudget: boolean }).overBudget;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agentmeter-gd-'));
    store = await startTestStore(dir);
    const plane = controlPlane();
    const access = {
      server: plane.server,
      caFile: plane.caFile,
      kubeconfig: plane.kubeconfig,
      kubectl: plane.binaries.kubectl,
      adminToken: plane.admin.token,
    };
    await core.createNamespace({ body: { metadata: { name: SYSTEM } } });
    const chart = await applyOperatorRbac(access, RELEASE, SYSTEM);
    const token = await serviceAccountToken(core, SYSTEM, chart.serviceAccount);
    const files = await writeTokenFiles(dir, access, token);
    await core.createNamespace({
      body: { metadata: { name: NS, labels: { 'agentmeter-gd': RUN } } },
    });
    // Only CPU is priced, one unit per CPU-second; the guard allows 3 units in any 60 seconds.
    await custom.createClusterCustomObject({
      group,
      version,
      plural: 'costpolicies',
      body: {
        apiVersion: `${group}/${version}`,
        kind: 'CostPolicy',
        metadata: { name: POLICY },
        spec: {
          priority: 900,
          selector: { namespaceSelector: { matchLabels: { 'agentmeter-gd': RUN } } },
          currency: 'USD',
          rates: { cpuCoreHour: '3600' },
          guards: [
            { name: 'burn-rate', maxSpendPerMinute: '3' },
            { name: 'same-call', repeatedToolCall: { count: 5 } },
          ],
        },
      },
    });

    const port = await freePort(HOST);
    agent = await AgentProcess.start({
      nodeName: NODE,
      kubeconfig: plane.kubeconfig,
      stateDir: await mkdtemp(join(dir, 'agent-')),
      host: HOST,
      port,
      tick: '1s',
      token: plane.admin.token,
    });
    await agent.waitReady();
    await publishAgent(discovery, SYSTEM, chart.agentService, NODE, port);
    operator = await OperatorProcess.start({
      kubeconfig: files.kubeconfig,
      namespace: SYSTEM,
      identity: 'gd-1',
      ledgerTokenFile: files.tokenFile,
      agentService: chart.agentService,
      agentPort: port,
      store: store.args,
      hosts: { [agentHostName(NODE)]: HOST },
      leaseName: chart.leaseName,
    });
    await operator.waitStarted();

    for (const s of SESSIONS) {
      const pod = await core.createNamespacedPod({
        namespace: NS,
        body: {
          metadata: { name: s.pod, annotations: { 'agentmeter.dev/session-id': s.id } },
          spec: { nodeName: NODE, containers: [{ name: 'main', image: 'example.invalid/app:1' }] },
        },
      });
      const cg = await createPodCgroup({ uid: pod.metadata?.uid ?? '', prefix: PREFIX });
      groups.push(cg);
      await writeControl(cg, 'cpu', 'cpu.cfs_quota_us', s.quota);
      burners.set(s.id, cg.run('sh', ['-c', 'while :; do :; done']));
    }
  });

  afterAll(async () => {
    await operator?.kill9();
    await agent?.stop();
    for (const g of groups) await g.remove();
    await removePrefix(PREFIX);
    await custom
      .deleteClusterCustomObject({ group, version, plural: 'costpolicies', name: POLICY })
      .catch(() => undefined);
    for (const ns of [SYSTEM, NS]) await core.deleteNamespace({ name: ns }).catch(() => undefined);
    const name = `${RELEASE}-agentmeter-operator`;
    await rbac.deleteClusterRoleBinding({ name }).catch(() => undefined);
    await rbac.deleteClusterRole({ name }).catch(() => undefined);
    await store?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('marks the session over its spend rate over budget on the agent and names the guard in an Event', async () => {
    await eventually(
      'the looping session marked over budget on the agent',
      () => marked('loop'),
      120_000,
    );
    const p = await policy();
    const tripped = p.status?.guards?.tripped ?? [];
    expect(tripped).toHaveLength(1);
    const [t] = tripped;
    expect(t).toMatchObject({
      guard: 'burn-rate',
      session: `${NS}/loop`,
      action: 'MarkOverBudget',
      kind: 'spendPerMinute',
      limit: '3',
    });
    expect(Number(t?.observed)).toBeGreaterThan(3);
    expect(Date.parse(t?.until ?? '')).toBeGreaterThan(Date.now());
    const events = await eventually('a GuardTripped Event', async () => {
      const list = await eventsApi.listEventForAllNamespaces();
      const mine = list.items.filter(
        (e) => e.regarding?.name === POLICY && e.reason === 'GuardTripped',
      );
      return mine.length > 0 ? mine : undefined;
    });
    expect(events).toHaveLength(1);
    expect(events[0]?.note).toContain(`guard burn-rate: session ${NS}/loop spent`);
    expect(events[0]?.type).toBe('Warning');
    expect(await marked('calm')).toBe(false);
    expect(
      await operator.metric('agentmeter_guard_trips_total', { policy: POLICY, guard: 'burn-rate' }),
    ).toBe(1);
  });

  it('keeps the mark across rounds and lifts it on a new clear-guards value', async () => {
    // Rounds run every second: the mark and the one Event stay.
    await new Promise((r) => setTimeout(r, 3000));
    expect(await marked('loop')).toBe(true);
    burners.get('loop')?.kill('SIGKILL');
    await custom.patchClusterCustomObject(
      {
        group,
        version,
        plural: 'costpolicies',
        name: POLICY,
        body: { metadata: { annotations: { 'agentmeter.dev/clear-guards': 'after-incident-1' } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await eventually('the mark lifted on the agent', async () => !(await marked('loop')), 60_000);
    const p = await policy();
    expect(p.status?.guards?.tripped ?? []).toEqual([]);
    expect(p.status?.guards?.cleared).toBe('after-incident-1');
    const list = await eventsApi.listEventForAllNamespaces();
    expect(
      list.items.filter((e) => e.regarding?.name === POLICY && e.reason === 'GuardTripped'),
    ).toHaveLength(1);
  });
});
