// Runaway-session guards end to end: the operator as its own process (the chart's
// ServiceAccount and RBAC) against the real apiserver and a real node agent metering real
// processes in real cgroups. A session that burns past a spend-per-minute guard is marked over
// budget on the agent and its Job suspended (the guard's action is Suspend), Events name the
// guard, a calm session beside it is left alone, and a new value of the clear annotation lifts
// the mark and restores the Job. Then the operator is killed and a new one started: it goes on
// judging the guard window the first one stored, and its spend history counts every entry once;
// when the period the trip happened in ends (the operator's clock file), the mark lifts.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { CostPolicy } from '@agentmeter/crds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeHistory } from '../../operator/src/anomaly/history-state.ts';
import { decodeWindow } from '../../operator/src/guards/window-state.ts';
import { AgentProcess, freePort } from '../support/agent-process.ts';
import { startBurnerPod } from '../support/burner-pod.ts';
import { removePrefix, testCgroupPrefix, type TestPodCgroup } from '../support/cgroups.ts';
import { createCostPolicy, deleteCostPolicy, getCostPolicy } from '../support/cost-policy.ts';
import { kubeApis } from '../support/kube-apis.ts';
import { controlPlane } from '../support/kube.ts';
import { ledgerSums, policyCursors } from '../support/ledger-sums.ts';
import { InstalledOperator, type OperatorProcess } from '../support/operator-process.ts';
import { eventually } from '../support/wait.ts';
import { startTestStore, type TestStore } from '../support/store-engine.ts';

const RUN = randomBytes(3).toString('hex');
const SYSTEM = `am-gd-${RUN}`;
const RELEASE = `gd${RUN}`;
const PREFIX = testCgroupPrefix('gd');
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

const { batch, core, custom, discovery, events: eventsApi, rbac } = kubeApis();

const policy = (): Promise<CostPolicy> => getCostPolicy(custom, POLICY);

describe('runaway-session guards in the operator round', () => {
  let agent: AgentProcess;
  let operator: OperatorProcess;
  let startOperator: (identity: string, clockFile?: string) => Promise<OperatorProcess>;
  const groups: TestPodCgroup[] = [];
  const burners = new Map<string, { kill(signal: NodeJS.Signals): boolean }>();
  let dir: string;
  let installed: InstalledOperator | undefined;

  const clockFile = () => join(dir, 'clock');

  const jobEvents = async () =>
    (await eventsApi.listNamespacedEvent({ namespace: NS })).items.filter(
      (e) => e.regarding?.kind === 'Job' && e.regarding.name === 'looper',
    );
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
    const install = await InstalledOperator.install(core, plane, RELEASE, SYSTEM, dir);
    installed = install;
    await core.createNamespace({
      body: { metadata: { name: NS, labels: { 'agentmeter-gd': RUN } } },
    });
    // Only CPU is priced, one unit per CPU-second; the guard allows 3 units in any 60 seconds.
    await createCostPolicy(custom, POLICY, {
      priority: 900,
      selector: { namespaceSelector: { matchLabels: { 'agentmeter-gd': RUN } } },
      currency: 'USD',
      rates: { cpuCoreHour: '3600' },
      guards: [
        { name: 'burn-rate', maxSpendPerMinute: '3', action: 'Suspend' },
        { name: 'same-call', repeatedToolCall: { count: 5 } },
      ],
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
    await install.publish(discovery, NODE, port);
    startOperator = async (identity, clockFile) => {
      const agents = { [NODE]: HOST };
      const o = await install.startReplica({
        identity,
        agentPort: port,
        agents,
        store: store.args,
        clockFile,
      });
      await o.waitStarted();
      return o;
    };
    operator = await startOperator('gd-1');

    // The looping session's Job: what a Suspend guard stops (no controller runs it here; the
    // pod below stands for its pod).
    await batch.createNamespacedJob({
      namespace: NS,
      body: {
        metadata: { name: 'looper' },
        spec: {
          template: {
            metadata: { annotations: { 'agentmeter.dev/session-id': 'loop' } },
            spec: {
              restartPolicy: 'Never',
              containers: [{ name: 'main', image: 'example.invalid/app:1' }],
            },
          },
        },
      },
    });
    for (const s of SESSIONS) {
      const pod = await startBurnerPod(core, {
        namespace: NS,
        name: s.pod,
        node: NODE,
        prefix: PREFIX,
        quotaUs: s.quota,
        session: s.id,
      });
      groups.push(pod.group);
      burners.set(s.id, pod.burner);
    }
  });

  afterAll(async () => {
    await operator?.kill9();
    await agent?.stop();
    for (const g of groups) await g.remove();
    await removePrefix(PREFIX);
    await deleteCostPolicy(custom, POLICY);
    for (const ns of [SYSTEM, NS]) await core.deleteNamespace({ name: ns }).catch(() => undefined);
    await installed?.removeClusterRbac(rbac);
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
      action: 'Suspend',
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

  it("suspends the tripped session's Job and names the guard in an Event on it", async () => {
    const job = await eventually('the Job suspended', async () => {
      const j = await batch.readNamespacedJob({ namespace: NS, name: 'looper' });
      return j.spec?.suspend === true ? j : undefined;
    });
    expect(job.metadata?.annotations?.['agentmeter.dev/suspended-by']).toBe(
      `${POLICY}/guard:burn-rate`,
    );
    const suspended = (await jobEvents()).filter((e) => e.reason === 'GuardSuspended');
    expect(suspended.map((e) => e.note)).toEqual([
      `Job ${NS}/looper suspended: guard burn-rate of policy ${POLICY} tripped on its session`,
    ]);
  });

  it('keeps the mark across rounds, lifts it and restores the Job on a new clear-guards value', async () => {
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
    const job = await eventually('the Job restored', async () => {
      const j = await batch.readNamespacedJob({ namespace: NS, name: 'looper' });
      return j.spec?.suspend === false ? j : undefined;
    });
    expect(job.metadata?.annotations?.['agentmeter.dev/suspended-by']).toBeUndefined();
    const restored = await eventually('a GuardRestored Event', async () => {
      const mine = (await jobEvents()).filter((e) => e.reason === 'GuardRestored');
      return mine.length > 0 ? mine : undefined;
    });
    expect(restored.map((e) => e.note)).toEqual([
      `Job ${NS}/looper restored: guard burn-rate of policy ${POLICY} no longer holds its session`,
    ]);
  });

  it('a new operator after a kill -9 judges the window the first one stored', async () => {
    const cleared = Date.parse((await policy()).status?.guards?.clearedAt ?? '');
    // The calm session spends 0.6 a minute: once the stored window holds 0.2 of it since the
    // clear, it is stopped, and the first operator is killed once it has counted the stop.
    await eventually(
      'the calm session in the stored window',
      async () => {
        const window = decodeWindow((await policy()).status?.guards?.window);
        const calm = window
          .flatMap((e) => e.records)
          .filter((r) => r.session === `${NS}/calm` && r.atMs > cleared);
        return calm.reduce((a, r) => a + r.nano, 0n) >= 200_000_000n;
      },
      90_000,
    );
    burners.get('calm')?.kill('SIGSTOP');
    const stoppedAt = Date.now();
    const head = async () => BigInt((await agent.ledger()).at(-1)?.seq ?? '0');
    await new Promise((r) => setTimeout(r, 2000));
    const last = await head();
    await eventually('the stop counted', async () =>
      (policyCursors(await policy()).get(NODE) ?? 0n) >= last ? true : undefined,
    );
    await operator.kill9();
    // While no operator runs, the guard is tightened below what the calm session spent.
    await custom.patchClusterCustomObject(
      {
        group,
        version,
        plural: 'costpolicies',
        name: POLICY,
        body: {
          spec: {
            guards: [
              { name: 'burn-rate', maxSpendPerMinute: '0.1', action: 'Suspend' },
              { name: 'same-call', repeatedToolCall: { count: 5 } },
            ],
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    // The new operator's wall clock reads a file, so the next test can end the period.
    await writeFile(clockFile(), new Date().toISOString());
    operator = await startOperator('gd-2', clockFile());
    // Everything the calm session spent, the first operator counted: only the stored window can
    // trip the guard, at a time before the stop.
    const trip = await eventually(
      'the calm session tripped by the new operator',
      async () => (await policy()).status?.guards?.tripped?.find((t) => t.session === `${NS}/calm`),
      90_000,
    );
    expect(trip).toMatchObject({ guard: 'burn-rate', limit: '0.1' });
    expect(Date.parse(trip.trippedAt)).toBeLessThanOrEqual(stoppedAt);
    await eventually('the calm session marked on the agent', () => marked('calm'));
    // The spend history the new operator stores counts every entry of the policy exactly once.
    const p = await policy();
    const history = decodeHistory(p.status?.spendHistory ?? '');
    const hours = [...(history.streams.get('policy:*') ?? new Map<number, bigint>()).values()];
    const sums = ledgerSums(new Map([[NODE, await agent.ledger()]]), POLICY, policyCursors(p));
    expect(hours.reduce((a, b) => a + b, 0n)).toBe(sums.total);
    expect(sums.total).toBeGreaterThan(0n);
  });

  it('lifts the mark when the period it tripped in ends', async () => {
    const held = (await policy()).status?.guards?.tripped?.find((t) => t.session === `${NS}/calm`);
    const until = new Date(Date.parse(held?.until ?? ''));
    // The day without budgets: the mark holds until the next UTC midnight.
    expect(until.toISOString()).toMatch(/T00:00:00\.000Z$/);
    await writeFile(clockFile(), new Date(until.getTime() + 30_000).toISOString());
    await eventually('the mark lifted on the agent', async () => !(await marked('calm')), 60_000);
    expect((await policy()).status?.guards?.tripped ?? []).toEqual([]);
  });
});
