// Faults against the operator, on a control plane of this suite's own (it is stopped and
// restarted): kill -9 of the leader 20 times, an etcd + apiserver outage, a ledger altered on
// disk, and a node deleted for good. After each, status spend equals the agents' ledgers summed
// up to the cursors the status itself records, to the nano.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import type { CostPolicy, LedgerEntry } from '@agentmeter/crds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCostPolicy, getCostPolicy } from '../support/cost-policy.ts';
import { startControlPlane, type ControlPlane } from '../../hack/control-plane.ts';
import { LedgerStore } from '../../node-agent/src/ledger/index.ts';
import { AgentProcess, freePort } from '../support/agent-process.ts';
import { startBurnerPod } from '../support/burner-pod.ts';
import { removePrefix, testCgroupPrefix, type TestPodCgroup } from '../support/cgroups.ts';
import { kubeApis } from '../support/kube-apis.ts';
import { ledgerSums, moneyNano, policyCursors } from '../support/ledger-sums.ts';
import { InstalledOperator, type OperatorProcess } from '../support/operator-process.ts';
import { eventually } from '../support/wait.ts';
import { startTestStore, storedSpend, type TestStore } from '../support/store-engine.ts';
import { STORE_TABLES } from '../../operator/src/store/accounting.ts';

const RUN = randomBytes(3).toString('hex');
const SYSTEM = `am-opf-${RUN}`;
const RELEASE = `opf${RUN}`;
const PREFIX = testCgroupPrefix('opf');
const POLICY = `opf-${RUN}`;
const NODES = [`opf-a-${RUN}`, `opf-b-${RUN}`, `opf-c-${RUN}`] as const;
const HOSTS = ['127.0.0.21', '127.0.0.22', '127.0.0.23'] as const;
const NAMESPACES = NODES.map((_, i) => `opf-ns${i}-${RUN}`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('operator faults', () => {
  let plane: ControlPlane;
  let dir: string;
  let k: ReturnType<typeof kubeApis>;
  let installed: InstalledOperator;
  let store: TestStore;
  let port: number;
  const agents: AgentProcess[] = [];
  const stateDirs: string[] = [];
  const operators: OperatorProcess[] = [];
  const groups: TestPodCgroup[] = [];
  const burners: { kill(signal: NodeJS.Signals): boolean }[] = [];
  /** Ledgers of agents that are gone, read from their state directories. */
  const frozen = new Map<string, LedgerEntry[]>();
  let operatorCount = 0;

  const policy = (): Promise<CostPolicy> => getCostPolicy(k.custom, POLICY);

  const startAgent = async (i: number): Promise<AgentProcess> => {
    const agent = await AgentProcess.start({
      nodeName: NODES[i] as string,
      kubeconfig: plane.kubeconfig,
      stateDir: stateDirs[i] as string,
      host: HOSTS[i],
      port,
      tick: '1s',
      token: plane.admin.token,
    });
    agents[i] = agent;
    await agent.waitReady();
    return agent;
  };

  const startOperator = async (): Promise<OperatorProcess> => {
    const op = await installed.startReplica({
      identity: `opf-${++operatorCount}`,
      agentPort: port,
      agents: Object.fromEntries(NODES.map((n, i) => [n, HOSTS[i] as string])),
      store: store.args,
    });
    operators.push(op);
    await op.waitStarted();
    return op;
  };

  const holder = async (): Promise<string | undefined> => {
    const lease = await k.coordination.readNamespacedLease({
      namespace: SYSTEM,
      name: installed.chart.leaseName,
    });
    return lease.spec?.holderIdentity ?? undefined;
  };

  /** Ledgers of every node: live agents over HTTP, gone ones as read at their end. */
  const ledgers = async (): Promise<Map<string, LedgerEntry[]>> => {
    const out = new Map(frozen);
    for (const [i, a] of agents.entries())
      if (!frozen.has(NODES[i] as string)) out.set(NODES[i] as string, await a.ledger());
    return out;
  };

  /** Waits until every live published agent's cursor passes its head as of now, then compares. */
  const expectExact = async (live: readonly number[]): Promise<CostPolicy> => {
    const heads = new Map<string, bigint>();
    for (const i of live) {
      const entries = await (agents[i] as AgentProcess).ledger();
      heads.set(NODES[i] as string, BigInt(entries.at(-1)?.seq ?? 0));
    }
    const p = await eventually(
      'cursors past the agents’ heads',
      async () => {
        const x = await policy();
        const c = policyCursors(x);
        return [...heads].every(([n, h]) => (c.get(n) ?? 0n) >= h) ? x : undefined;
      },
      60_000,
    );
    const sums = ledgerSums(await ledgers(), POLICY, policyCursors(p));
    const total = p.status?.budgets?.find((b) => b.name === 'total');
    expect(moneyNano(total?.spent)).toBe(sums.total);
    const ns = new Map(
      (p.status?.budgets?.find((b) => b.name === 'per-namespace')?.topScopes ?? []).map((s) => [
        s.key,
        moneyNano(s.spent),
      ]),
    );
    expect(ns).toEqual(sums.byNamespace);
    // The store itself, read in one snapshot, agrees with the ledgers up to its own cursors.
    const stored = await storedSpend(await store.open(), POLICY, [
      { name: 'total', periodStart: total?.periodStart ?? '' },
      { name: 'per-namespace', periodStart: total?.periodStart ?? '' },
    ]);
    const atStore = ledgerSums(await ledgers(), POLICY, stored.upTo);
    expect(stored.byBudget.get('total')).toEqual(new Map([['*', atStore.total]]));
    expect(stored.byBudget.get('per-namespace')).toEqual(atStore.byNamespace);
    return p;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agentmeter-opf-'));
    store = await startTestStore(dir);
    plane = await startControlPlane({ log: () => undefined });
    await new Promise<void>((done, fail) =>
      execFile(
        plane.binaries.kubectl,
        ['--kubeconfig', plane.kubeconfig, 'apply', '--server-side', '-f', 'crds/manifests'],
        (err, _o, stderr) => (err ? fail(new Error(stderr)) : done()),
      ),
    );
    await new Promise<void>((done, fail) =>
      execFile(
        plane.binaries.kubectl,
        [
          '--kubeconfig',
          plane.kubeconfig,
          'wait',
          '--for=condition=Established',
          '--timeout=60s',
          '-f',
          'crds/manifests',
        ],
        (err, _o, stderr) => (err ? fail(new Error(stderr)) : done()),
      ),
    );
    k = kubeApis(plane.kubeconfig);
    installed = await InstalledOperator.install(k.core, plane, RELEASE, SYSTEM, dir);
    await createCostPolicy(k.custom, POLICY, {
      selector: { namespaceSelector: { matchLabels: { 'agentmeter-it': RUN } } },
      currency: 'EUR',
      rates: { cpuCoreHour: '3600' },
      budgets: [
        { name: 'total', amount: '100000', period: 'Monthly' },
        { name: 'per-namespace', amount: '100000', period: 'Monthly', scope: 'Namespace' },
      ],
    });
    port = await freePort(HOSTS[0]);
    for (const [i, ns] of NAMESPACES.entries()) {
      stateDirs.push(await mkdtemp(join(dir, `agent-${i}-`)));
      await startAgent(i);
      await k.core.createNamespace({
        body: { metadata: { name: ns, labels: { 'agentmeter-it': RUN } } },
      });
      const pod = await startBurnerPod(k.core, {
        namespace: ns,
        name: 'burner',
        node: NODES[i] as string,
        prefix: PREFIX,
        quotaUs: '10000',
      });
      groups.push(pod.group);
      burners.push(pod.burner);
    }
    // Node C stays unpublished until its ledger has been altered (see below).
    for (const i of [0, 1]) await installed.publish(k.discovery, NODES[i] as string, port);
    await startOperator();
    await startOperator();
  });

  afterAll(async () => {
    for (const op of operators) await op.kill9();
    for (const a of agents) await a?.stop();
    for (const g of groups) await g.remove();
    await removePrefix(PREFIX);
    await plane?.stop();
    await store?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it(
    'survives kill -9 of the leader 20 times: the follower takes over, totals stay exact',
    async () => {
      let takeovers = 0;
      for (let round = 0; round < 20; round++) {
        const leaderId = await eventually('a leader among the running replicas', async () => {
          const id = await holder();
          return operators.some((o) => o.running && o.identity === id) ? id : undefined;
        });
        const leader = operators.find((o) => o.identity === leaderId) as OperatorProcess;
        // A random point of its round: listing, pulling, between or inside status writes.
        await sleep(Math.floor(Math.random() * 1500));
        await leader.kill9();
        const before = (await policy()).metadata.resourceVersion;
        // The follower takes over while the replacement starts: the two waits overlap, so a round
        // costs the Lease expiry or a process start, whichever is longer, not both.
        const [, next] = await Promise.all([
          startOperator(),
          eventually('another replica to take the Lease', async () => {
            const id = await holder();
            return id !== leaderId && operators.some((o) => o.running && o.identity === id)
              ? id
              : undefined;
          }),
        ]);
        expect(next).not.toBe(leaderId);
        takeovers++;
        // The new leader has written at least once before it is killed in turn.
        await eventually('a status write by the new leader', async () => {
          return (await policy()).metadata.resourceVersion !== before;
        });
      }
      expect(takeovers).toBe(20);
      await expectExact([0, 1]);
      // Twenty real failovers on a busy machine: the timeout is a guard against a hang, sized per
      // round, not a speed target.
    },
    20 * 45_000,
  );

  it('rides out an etcd + apiserver outage on its own and records it in a condition', async () => {
    const running = operators.filter((o) => o.running);
    for (const op of running.slice(1)) await op.stop();
    const op = running[0] as OperatorProcess;
    await eventually('the remaining replica leads', async () => (await holder()) === op.identity);
    await plane.stopServers();
    try {
      // While it lasts: readiness fails and the apiserver gauge is 0 (no status can be stored).
      await eventually('readyz to fail during the outage', async () => (await op.readyz()) === 503);
      expect(await op.metric('agentmeter_operator_apiserver_up')).toBe(0);
      await sleep(3000);
    } finally {
      await plane.startServers();
    }
    const p = await eventually(
      'the outage recorded in a condition',
      async () => {
        const x = await policy();
        const c = x.status?.conditions?.find((k) => k.type === 'ApiserverReachable');
        return c?.reason === 'RecoveredFromOutage' ? x : undefined;
      },
      90_000,
    );
    const cond = p.status?.conditions?.find((k) => k.type === 'ApiserverReachable');
    expect(cond?.status).toBe('True');
    expect(cond?.message).toMatch(/unreachable from \S+ to \S+ \(\d+ rounds failed\)/);
    // The Event follows the status writes of the same round, so it may land a moment later.
    const outageEvents = await eventually('the outage Event on the policy', async () => {
      const events = await k.events.listEventForAllNamespaces();
      const found = events.items.filter(
        (e) => e.reason === 'ApiserverOutage' && e.regarding?.name === POLICY,
      );
      return found.length > 0 ? found : undefined;
    });
    expect(outageEvents).toHaveLength(1);
    expect(op.running).toBe(true);
    expect(await op.readyz()).toBe(200);
    await expectExact([0, 1]);
  });

  it('refuses the entries of a ledger altered on disk and keeps counting the others', async () => {
    // Stop agent C and seal its segment (a roll), so the altered entry sits in a closed
    // segment: the agent opens with tail verification and serves it; only the operator's chain
    // verification can catch it.
    const c = agents[2] as AgentProcess;
    await c.stop();
    const roll = await LedgerStore.open({
      dir: stateDirs[2] as string,
      identity: { node: NODES[2], agentId: 'test-roll' },
      segmentBytes: 1,
    });
    const now = (BigInt(Date.now()) * 1_000_000n).toString();
    await roll.append([
      { kind: 'marker', event: 'agent-start', time: { start: now, end: now }, detail: {} },
    ]);
    await roll.close();
    const ledgerDir = join(stateDirs[2] as string, 'ledger');
    const segments = (await readdir(ledgerDir))
      .filter((f) => /^segment-\d{20}\.ndjson$/.test(f))
      .sort();
    expect(segments.length).toBeGreaterThanOrEqual(2);
    const file = join(ledgerDir, segments[0] as string);
    const lines = (await readFile(file, 'utf8')).split('\n');
    const index = lines.findIndex(
      (l, i) =>
        i > 0 &&
        i < lines.length - 3 &&
        l.includes('"pod-usage"') &&
        l.includes(`"name":"${POLICY}"`) &&
        !l.includes('"totalNano":"0"'),
    );
    expect(index).toBeGreaterThan(0);
    const target = JSON.parse(lines[index] as string) as LedgerEntry;
    lines[index] = (lines[index] as string).replace(/"totalNano":"(\d+)"/, (_m, n: string) => {
      return `"totalNano":"${BigInt(n) + 1000n}"`;
    });
    await writeFile(file, lines.join('\n'));
    await startAgent(2);
    await installed.publish(k.discovery, NODES[2], port);

    const p = await eventually('LedgerVerified=False', async () => {
      const x = await policy();
      const cond = x.status?.conditions?.find((k) => k.type === 'LedgerVerified');
      return cond?.status === 'False' && cond.message?.includes(NODES[2]) ? x : undefined;
    });
    expect(p.status?.conditions?.find((k) => k.type === 'LedgerVerified')?.message).toContain(
      `${NODES[2]}: hash-mismatch at seq ${target.seq}`,
    );
    const broken = await eventually('a LedgerChainBroken Event', async () => {
      const list = await k.events.listEventForAllNamespaces();
      const mine = list.items.filter(
        (e) => e.reason === 'LedgerChainBroken' && e.note?.includes(NODES[2]),
      );
      return mine.length > 0 ? mine : undefined;
    });
    expect(broken).toHaveLength(1);
    // Counted up to the last whole batch before the altered entry, and not one entry further.
    const x = await expectExact([0, 1]);
    expect(policyCursors(x).get(NODES[2])).toBe(BigInt(target.batch.first) - 1n);
  });

  it('keeps counting what it collected from a node deleted for good', async () => {
    const b = agents[1] as AgentProcess;
    burners[1]?.kill('SIGSTOP');
    const before = await expectExact([0, 1]);
    const cursorB = policyCursors(before).get(NODES[1]) as bigint;
    await installed.unpublish(k.discovery, NODES[1]);
    await b.stop();
    await k.core.deleteNamespace({ name: NAMESPACES[1] as string });
    const store = await LedgerStore.open({
      dir: stateDirs[1] as string,
      identity: { node: NODES[1], agentId: 'reader' },
    });
    const final = await store.readAfter(0n, 1_000_000);
    frozen.set(NODES[1], final);
    await store.close();
    // A round that listed B before it was unpublished may still pull from it until it stops (a
    // busy machine stretches rounds), but never past its final entry; from then on B's cursor
    // stays where it is and what was counted from B stays counted.
    const after = await expectExact([0]);
    const cursorAfter = policyCursors(after).get(NODES[1]) as bigint;
    expect(cursorAfter).toBeGreaterThanOrEqual(cursorB);
    expect(cursorAfter).toBeLessThanOrEqual(BigInt(final.at(-1)?.seq ?? 0));
    const later = await expectExact([0]);
    expect(policyCursors(later).get(NODES[1])).toBe(cursorAfter);
    const nsB = after.status?.budgets
      ?.find((x) => x.name === 'per-namespace')
      ?.topScopes?.find((s) => s.key === NAMESPACES[1]);
    expect(moneyNano(nsB?.spent)).toBeGreaterThan(0n);
    expect(after.status?.conditions?.find((k) => k.type === 'AgentsReachable')?.status).toBe(
      'True',
    );
  });

  it('rebuilds a lost store from the ledgers and says what it could not rebuild', async () => {
    for (const op of operators) await op.kill9();
    // The store is lost: every row gone (schema kept, as a fresh volume or database would be
    // after the operator migrates it).
    const db = await store.open();
    await db.engine.transaction(async (tx) => {
      for (const table of STORE_TABLES) await tx.run(`DELETE FROM ${table}`);
    });
    await startOperator();
    const p = await eventually(
      'the StoreRebuilt condition',
      async () => {
        const x = await policy();
        return x.status?.conditions?.some((c) => c.type === 'StoreRebuilt') ? x : undefined;
      },
      60_000,
    );
    const rebuilt = p.status?.conditions?.find((c) => c.type === 'StoreRebuilt');
    // B's agent is gone for good: what was counted from it cannot come back, and says so.
    expect(rebuilt?.reason).toBe('Incomplete');
    expect(rebuilt?.message).toContain(`${NODES[1]}: its agent does not answer`);
    const note = await eventually('the StoreRebuilt Event', async () => {
      const list = await k.events.listEventForAllNamespaces();
      return list.items.find((e) => e.reason === 'StoreRebuilt' && e.regarding?.name === POLICY)
        ?.note;
    });
    expect(note).toBe(rebuilt?.message);
    // What the live agents' ledgers hold is counted again, exactly once; B is not in it.
    const x = await expectExact([0]);
    expect(policyCursors(x).has(NODES[1])).toBe(false);
  });
});
