// The operator as its own processes (two replicas, leader-elected) against the real apiserver,
// under a token of the ServiceAccount the chart ships and only its RBAC, collecting from two
// real node agents that meter real processes in real cgroups: exact spend, threshold Events,
// Suspend and restore at rollover (driven through the clock seam), CostReports and the CLI.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventsV1Event } from '@kubernetes/client-node';
import type { CostPolicy, CostReport, LedgerEntry } from '@agentmeter/crds';
import { formatMoney } from '@agentmeter/crds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCostPolicy, deleteCostPolicy, getCostPolicy } from '../support/cost-policy.ts';
import { AgentProcess, freePort } from '../support/agent-process.ts';
import { startBurnerPod } from '../support/burner-pod.ts';
import { removePrefix, testCgroupPrefix, type TestPodCgroup } from '../support/cgroups.ts';
import { kubeApis } from '../support/kube-apis.ts';
import { controlPlane } from '../support/kube.ts';
import { ledgerSums, moneyNano, policyCursors } from '../support/ledger-sums.ts';
import {
  InstalledOperator,
  serviceAccountToken,
  type OperatorProcess,
} from '../support/operator-process.ts';
import { eventually } from '../support/wait.ts';
import { startTestStore, storedSpend, type TestStore } from '../support/store-engine.ts';

const RUN = randomBytes(3).toString('hex');
const SYSTEM = `am-op-${RUN}`;
const RELEASE = `op${RUN}`;
const PREFIX = testCgroupPrefix('op');
const POLICY = `op-it-${RUN}`;
const NODES = [`op-node-a-${RUN}`, `op-node-b-${RUN}`] as const;
const HOSTS = ['127.0.0.11', '127.0.0.12'] as const;
// Namespace → node of its burner pod.
const TENANTS = [
  { ns: `op-a-${RUN}`, node: 0, session: 'sess-a', team: 'red' },
  { ns: `op-b-${RUN}`, node: 1, session: 'sess-b', team: 'red' },
  { ns: `op-c-${RUN}`, node: 1, session: 'sess-c', team: 'blue' },
] as const;
const TEAM_LABEL = 'example.com/team';
const group = 'agentmeter.dev';
const version = 'v1alpha1';

const { core, apps, batch, custom, discovery, events: eventsApi, rbac } = kubeApis();

const policy = (): Promise<CostPolicy> => getCostPolicy(custom, POLICY);

async function policyEvents(): Promise<EventsV1Event[]> {
  const list = await eventsApi.listEventForAllNamespaces();
  return list.items.filter(
    (e) => e.regarding?.kind === 'CostPolicy' && e.regarding.name === POLICY,
  );
}

describe('operator against real agents and a real apiserver', () => {
  const agents: AgentProcess[] = [];
  const operators: OperatorProcess[] = [];
  const groups: TestPodCgroup[] = [];
  const burners: { kill(signal: NodeJS.Signals): boolean }[] = [];
  let dir: string;
  let installed: InstalledOperator | undefined;
  let store: TestStore;
  let clockFile: string;
  let periodStart: Date;

  const ledgers = async (): Promise<Map<string, LedgerEntry[]>> =>
    new Map(
      await Promise.all(
        agents.map(async (a, i) => [NODES[i] as string, await a.ledger()] as const),
      ),
    );

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agentmeter-op-'));
    store = await startTestStore(dir);
    const plane = controlPlane();
    installed = await InstalledOperator.install(core, plane, RELEASE, SYSTEM, dir);

    for (const t of TENANTS)
      await core.createNamespace({
        body: { metadata: { name: t.ns, labels: { 'agentmeter-it': RUN, [TEAM_LABEL]: t.team } } },
      });
    // Only CPU is priced, at 3600 per core-hour: one unit per CPU-second, so budgets of a few
    // units are crossed within seconds by burners held to a fifth of a core.
    await createCostPolicy(custom, POLICY, {
      priority: 900,
      selector: { namespaceSelector: { matchLabels: { 'agentmeter-it': RUN } } },
      currency: 'USD',
      rates: { cpuCoreHour: '3600' },
      allocation: { tags: [{ name: 'team', namespaceLabel: TEAM_LABEL }] },
      budgets: [
        {
          name: 'total',
          amount: '1.5',
          period: 'Daily',
          thresholds: [50, 100],
          action: 'Notify',
        },
        {
          name: 'per-namespace',
          amount: '0.4',
          period: 'Daily',
          scope: 'Namespace',
          thresholds: [80, 100],
          action: 'Suspend',
        },
        {
          name: 'per-session',
          amount: '1000',
          period: 'Daily',
          scope: 'Session',
          thresholds: [90],
          action: 'Notify',
        },
      ],
    });

    // Workloads the Suspend budget acts on; no controller-manager runs, they are just objects.
    const [first] = TENANTS;
    const podTemplate = {
      metadata: { labels: { app: 'w' } },
      spec: {
        restartPolicy: 'Never',
        containers: [{ name: 'c', image: 'example.invalid/w:1' }],
      },
    };
    await apps.createNamespacedDeployment({
      namespace: first.ns,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app: 'w' } },
          template: { ...podTemplate, spec: { ...podTemplate.spec, restartPolicy: 'Always' } },
        },
      },
    });
    await batch.createNamespacedJob({
      namespace: first.ns,
      body: { metadata: { name: 'crunch' }, spec: { template: podTemplate } },
    });

    const port = await freePort(HOSTS[0]);
    for (const [i, node] of NODES.entries()) {
      const agent = await AgentProcess.start({
        nodeName: node,
        kubeconfig: plane.kubeconfig,
        stateDir: await mkdtemp(join(dir, `agent-${i}-`)),
        host: HOSTS[i],
        port,
        tick: '1s',
        token: plane.admin.token,
      });
      agents.push(agent);
    }
    for (const a of agents) await a.waitReady();
    for (const node of NODES) await installed.publish(discovery, node, port);

    for (const t of TENANTS) {
      // A fifth of a core each, so three burners leave this shared 2-core host room.
      const pod = await startBurnerPod(core, {
        namespace: t.ns,
        name: 'burner',
        node: NODES[t.node],
        prefix: PREFIX,
        quotaUs: '20000',
        session: t.session,
      });
      groups.push(pod.group);
      burners.push(pod.burner);
    }

    periodStart = new Date();
    clockFile = join(dir, 'clock');
    await writeFile(clockFile, periodStart.toISOString());
    for (const identity of ['op-1', 'op-2']) {
      const op = await installed.startReplica({
        identity,
        agentPort: port,
        agents: Object.fromEntries(NODES.map((n, i) => [n, HOSTS[i] as string])),
        store: store.args,
        clockFile,
      });
      operators.push(op);
    }
    for (const op of operators) await op.waitStarted();
  });

  afterAll(async () => {
    for (const op of operators) await op.kill9();
    for (const a of agents) await a.stop();
    for (const g of groups) await g.remove();
    await removePrefix(PREFIX);
    await deleteCostPolicy(custom, POLICY);
    const reports = (await custom
      .listClusterCustomObject({
        group,
        version,
        plural: 'costreports',
        labelSelector: `agentmeter.dev/policy=${POLICY}`,
      })
      .catch(() => ({ items: [] }))) as { items: CostReport[] };
    for (const r of reports.items)
      await custom
        .deleteClusterCustomObject({
          group,
          version,
          plural: 'costreports',
          name: r.metadata.name ?? '',
        })
        .catch(() => undefined);
    for (const ns of [SYSTEM, ...TENANTS.map((t) => t.ns)])
      await core.deleteNamespace({ name: ns }).catch(() => undefined);
    await installed?.removeClusterRbac(rbac);
    await store?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('counts spend in status equal to the sum of the agents’ ledgers, to the nano', async () => {
    // Run until the Namespace budget is exceeded somewhere and the total crossed 100%.
    await eventually(
      'budgets to be exceeded',
      async () => {
        const b = (await policy()).status?.budgets ?? [];
        const total = b.find((x) => x.name === 'total');
        return (
          (total?.thresholdsReached ?? []).includes(100) && (total?.utilizationPercent ?? 0) >= 100
        );
      },
      90_000,
    );
    for (const b of burners) b.kill('SIGSTOP');
    // The status is read first: its cursors say exactly which entries it has counted.
    const p = await policy();
    const upTo = policyCursors(p);
    expect([...upTo.keys()].sort()).toEqual([...NODES].sort());
    const sums = ledgerSums(await ledgers(), POLICY, upTo);
    expect(sums.total).toBeGreaterThan(1_500_000_000n);
    const byName = new Map((p.status?.budgets ?? []).map((b) => [b.name, b]));
    expect(moneyNano(byName.get('total')?.spent)).toBe(sums.total);
    expect(moneyNano(byName.get('per-namespace')?.spent)).toBe(sums.total);
    const nsSpend = new Map(
      (byName.get('per-namespace')?.topScopes ?? []).map((s) => [s.key, moneyNano(s.spent)]),
    );
    expect(nsSpend).toEqual(sums.byNamespace);
    const sessionSpend = new Map(
      (byName.get('per-session')?.topScopes ?? []).map((s) => [s.key, moneyNano(s.spent)]),
    );
    expect(sessionSpend).toEqual(sums.bySession);
    expect(sessionSpend.size).toBe(TENANTS.length);
    // The store, read in one snapshot, agrees with the ledgers up to its own cursors.
    const periodStart = byName.get('total')?.periodStart ?? '';
    const stored = await storedSpend(
      await store.open(),
      POLICY,
      ['total', 'per-namespace', 'per-session'].map((name) => ({ name, periodStart })),
    );
    const atStore = ledgerSums(await ledgers(), POLICY, stored.upTo);
    expect(stored.byBudget.get('total')).toEqual(new Map([['*', atStore.total]]));
    expect(stored.byBudget.get('per-namespace')).toEqual(atStore.byNamespace);
    expect(stored.byBudget.get('per-session')).toEqual(atStore.bySession);
    const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
    expect(ready?.status).toBe('True');
    expect(p.status?.conditions?.find((c) => c.type === 'LedgerVerified')?.status).toBe('True');
    expect(p.status?.conditions?.find((c) => c.type === 'BudgetExceeded')?.status).toBe('True');
  });

  it("keeps the team tag the agents recorded with each entry: the store's chargeback by tag", async () => {
    const teamOf = new Map<string, string>(TENANTS.map((t) => [t.ns, t.team]));
    for (const entries of (await ledgers()).values()) {
      for (const e of entries) {
        if (e.kind !== 'pod-usage' || e.cost?.policy.name !== POLICY) continue;
        expect(e.tags).toEqual({ team: teamOf.get(e.pod.namespace) });
      }
    }
    // The burners are stopped: the store's spend by team settles at its spend by namespace.
    const accounting = await store.open();
    const days = { fromDay: 0, toDay: 1_000_000 };
    await eventually(
      'chargeback by team to equal the namespaces of each team',
      async () => {
        const byNamespace = await accounting.chargeback(POLICY, days, { namespace: true });
        const byTeam = await accounting.chargeback(POLICY, days, { tag: 'team' });
        const expected = new Map<string | null, bigint>();
        for (const r of byNamespace) {
          const team = teamOf.get(r.key ?? '') ?? null;
          expected.set(team, (expected.get(team) ?? 0n) + r.costNano);
        }
        return (
          byTeam.length === expected.size &&
          byTeam.every((r) => expected.get(r.key) === r.costNano) &&
          (expected.get('red') ?? 0n) > 0n &&
          (expected.get('blue') ?? 0n) > 0n
        );
      },
      30_000,
    );
  });

  it('answers GET /v1/sessions/{ns}/{id} from the store to a tenant of that namespace only', async () => {
    const [a, b] = TENANTS;
    // A ServiceAccount of tenant A that may get sessions.agentmeter.dev in A, and nowhere else.
    await core.createNamespacedServiceAccount({
      namespace: a.ns,
      body: { metadata: { name: 'reader' } },
    });
    await rbac.createNamespacedRole({
      namespace: a.ns,
      body: {
        metadata: { name: 'session-reader' },
        rules: [{ apiGroups: ['agentmeter.dev'], resources: ['sessions'], verbs: ['get'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: a.ns,
      body: {
        metadata: { name: 'session-reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'session-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: a.ns }],
      },
    });
    const token = await serviceAccountToken(core, a.ns, 'reader');
    const get = (ns: string, id: string, auth?: string) =>
      fetch(`${(operators[0] as OperatorProcess).url}/v1/sessions/${ns}/${id}`, {
        headers: auth === undefined ? {} : { authorization: `Bearer ${auth}` },
      });
    const own = await get(a.ns, a.session, token);
    expect(own.status).toBe(200);
    const body = (await own.json()) as {
      namespace: string;
      id: string;
      policies: { policy: string; cost: { total: string } }[];
    };
    expect(body).toMatchObject({ namespace: a.ns, id: a.session });
    const mine = body.policies.find((p) => p.policy === POLICY);
    const stored = await (await store.open()).session(POLICY, a.ns, a.session);
    expect(moneyNano(mine?.cost.total)).toBe(stored?.totalNano);
    expect(stored?.totalNano).toBeGreaterThan(0n);
    // Another tenant's session: refused, whether it exists or not; no token: 401.
    expect((await get(b.ns, b.session, token)).status).toBe(403);
    expect((await get(b.ns, 'no-such-session', token)).status).toBe(403);
    expect((await get(a.ns, a.session)).status).toBe(401);
    expect((await get(a.ns, a.session, 'not-a-token')).status).toBe(401);
    expect((await get(a.ns, 'no-such-session', token)).status).toBe(404);
  });

  it('fires each threshold Event exactly once', async () => {
    // Several more rounds pass with nothing new; no crossing is announced again.
    const before = await policy();
    const rounds = operatorRounds();
    await eventually('more rounds', () => operatorRounds() >= rounds + 4);
    const events = await policyEvents();
    const crossings = events.filter(
      (e) => e.reason === 'BudgetThresholdReached' || e.reason === 'BudgetExceeded',
    );
    const keys = crossings.map((e) =>
      /budget (\S+) reached (\d+)%/
        .exec(e.note ?? '')
        ?.slice(1, 3)
        .join('@'),
    );
    // total: 50 and 100; per-namespace: 80 and 100 (one scope key is enough to cross).
    expect(keys.sort()).toEqual(['per-namespace@100', 'per-namespace@80', 'total@100', 'total@50']);
    for (const e of crossings) expect(e.series?.count ?? 1).toBe(1);
    expect(
      before.status?.budgets?.find((b) => b.name === 'per-session')?.thresholdsReached,
    ).toEqual([]);
  });

  it('suspends the Deployment and the Job of a namespace over its Suspend budget', async () => {
    const ns = TENANTS[0].ns;
    const d = await eventually('Deployment scaled to 0', async () => {
      const x = await apps.readNamespacedDeployment({ namespace: ns, name: 'web' });
      return x.spec?.replicas === 0 ? x : undefined;
    });
    expect(d.metadata?.annotations?.['agentmeter.dev/suspended-by']).toBe(
      `${POLICY}/per-namespace`,
    );
    expect(d.metadata?.annotations?.['agentmeter.dev/previous-replicas']).toBe('3');
    const j = await eventually('Job suspended', async () => {
      const x = await batch.readNamespacedJob({ namespace: ns, name: 'crunch' });
      return x.spec?.suspend === true ? x : undefined;
    });
    expect(j.metadata?.annotations?.['agentmeter.dev/previous-suspend']).toBe('false');
    const suspended = (await eventsApi.listNamespacedEvent({ namespace: ns })).items.filter(
      (e) => e.reason === 'BudgetSuspended',
    );
    expect(suspended.map((e) => e.regarding?.kind).sort()).toEqual(['Deployment', 'Job']);
  });

  it('closes the period at rollover: CostReports match the ledger, workloads are restored', async () => {
    const next = new Date(
      Date.UTC(
        periodStart.getUTCFullYear(),
        periodStart.getUTCMonth(),
        periodStart.getUTCDate() + 1,
        0,
        0,
        30,
      ),
    );
    await writeFile(clockFile, next.toISOString());
    const ns = TENANTS[0].ns;
    await eventually('Deployment restored', async () => {
      const x = await apps.readNamespacedDeployment({ namespace: ns, name: 'web' });
      return x.spec?.replicas === 3 && !x.metadata?.annotations?.['agentmeter.dev/suspended-by'];
    });
    await eventually('Job restored', async () => {
      const x = await batch.readNamespacedJob({ namespace: ns, name: 'crunch' });
      return x.spec?.suspend === false && !x.metadata?.labels?.['agentmeter.dev/suspended'];
    });
    const reports = await eventually('CostReports', async () => {
      const list = (await custom.listClusterCustomObject({
        group,
        version,
        plural: 'costreports',
        labelSelector: `agentmeter.dev/policy=${POLICY}`,
      })) as { items: CostReport[] };
      return list.items.length === 3 ? list.items : undefined;
    });
    const report = reports.find((r) => r.spec.policy.budget === 'total') as CostReport;
    expect(report.spec.shard).toEqual({ index: 0, count: 1 });
    const heads = new Map(report.spec.chainHeads.map((h) => [h.node, BigInt(h.seq)]));
    const all = await ledgers();
    // The chain heads a report carries name the ledger entries it covers, hash included.
    for (const h of report.spec.chainHeads)
      expect(all.get(h.node)?.find((e) => e.seq === h.seq)?.hash).toBe(h.hash);
    const sums = ledgerSums(all, POLICY, heads);
    expect(moneyNano(report.spec.totals.cost.total)).toBe(sums.total);
    expect(moneyNano(report.spec.totals.cost.cpu)).toBe(sums.total);
    expect(
      new Map(report.spec.namespaces.map((n) => [n.namespace, moneyNano(n.cost.total)])),
    ).toEqual(sums.byNamespace);
    for (const r of reports) expect(r.spec.totals).toEqual(report.spec.totals);

    // Everything counted since the heads is in the new period: together, the whole ledger.
    const p = await eventually('status in the new period', async () => {
      const x = await policy();
      const total = x.status?.budgets?.find((b) => b.name === 'total');
      return total?.periodStart === next.toISOString().slice(0, 10) + 'T00:00:00Z' ? x : undefined;
    });
    const after = ledgerSums(await ledgers(), POLICY, policyCursors(p));
    const spentNow = moneyNano(p.status?.budgets?.find((b) => b.name === 'total')?.spent);
    expect(spentNow + sums.total).toBe(after.total);
    const closed = (await policyEvents()).filter((e) => e.reason === 'PeriodClosed');
    expect(closed).toHaveLength(1);
  });

  it('`agentmeter report --format csv` prints the per-namespace rows of the closed period', async () => {
    const reports = (await custom.listClusterCustomObject({
      group,
      version,
      plural: 'costreports',
      labelSelector: `agentmeter.dev/policy=${POLICY},agentmeter.dev/budget=total`,
    })) as { items: CostReport[] };
    const report = reports.items[0] as CostReport;
    const heads = new Map(report.spec.chainHeads.map((h) => [h.node, BigInt(h.seq)]));
    const sums = ledgerSums(await ledgers(), POLICY, heads);
    const out = await run(process.execPath, [
      'operator/src/cli/main.ts',
      'report',
      '--format',
      'csv',
      '--period',
      'closed',
      '--policy',
      POLICY,
      '--kubeconfig',
      controlPlane().kubeconfig,
    ]);
    expect(out.code, out.stderr).toBe(0);
    const lines = out.stdout.trim().split('\n');
    expect(lines[0]).toBe(
      'policy,period,periodStart,periodEnd,namespace,currency,total,cpu,memory,gpu,io,network,tokens,tools,apis,inputTokens,outputTokens,sessions',
    );
    const { start, end } = report.spec.period;
    // One report per budget of the period, each listing every namespace.
    const expected = [...sums.byNamespace]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(
        ([ns, n]) =>
          `${POLICY},closed,${start},${end},${ns},USD,${formatMoney(n)},${formatMoney(n)},0,0,0,0,0,0,0,0,0,${sums.sessionsByNamespace.get(ns)?.size ?? 0}`,
      );
    expect(lines.slice(1)).toEqual([...expected, ...expected, ...expected]);
    expect(expected).toHaveLength(TENANTS.length);
  });

  function operatorRounds(): number {
    let n = 0;
    for (const op of operators) n += op.jsonLogs().filter((l) => l.msg === 'round done').length;
    return n;
  }
});

function run(
  bin: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(bin, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      done({ code: err ? 1 : 0, stdout, stderr }),
    );
  });
}
