// Prometheus end to end: Debian's Prometheus scrapes the real node agent and the real operator on
// loopback, with the chart's rendered rules loaded. A priced pod burns CPU in a real cgroup, holds
// a (recorded-output) GPU and serves OTLP spans of three sessions. Then every dashboard panel's
// query returns data, the rules evaluate cleanly, the exceeded budget alerts, and the
// per-namespace cost in Prometheus matches the agent's ledger.
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, type V1Pod } from '@kubernetes/client-node';
import type { Budget, LedgerEntry } from '@agentmeter/crds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCostPolicy } from '../support/cost-policy.ts';
import { FAKE_NVIDIA_SMI_BIN, scenarioDir } from '../../node-agent/src/gpu/test-helpers.ts';
import {
  AGENT_JOB,
  OPERATOR_JOB,
  PrometheusServer,
  dashboardTargets,
  dashboards,
  renderRules,
  requirePrometheus,
  type DashboardTarget,
} from '../prometheus/harness.ts';
import { AgentProcess, freePort, metricValue } from '../support/agent-process.ts';
import {
  createPodCgroup,
  removePrefix,
  testCgroupPrefix,
  type TestPodCgroup,
} from '../support/cgroups.ts';
import { FakeKubelet } from '../support/fake-kubelet-podresources.ts';
import { adminKubeConfig, controlPlane } from '../support/kube.ts';
import { shipped } from '../support/shipped.ts';

const NODE = hostname().toLowerCase();
const ID = randomBytes(3).toString('hex');
const PREFIX = testCgroupPrefix('prom');
const AGENT_HOST = '127.0.0.81';
const OPERATOR_HOST = '127.0.0.82';
/** The workload pod's IP: OTLP requests leave from it, so the agent verifies their pod. */
const POD_IP = '127.0.0.83';
const NAMESPACE = `prom-e2e-${ID}`;
const AGENT_NAMESPACE = `prom-e2e-agentmeter-${ID}`;
const POLICY = `prom-e2e-${ID}`;
const MODEL = 'claude-sonnet-4-5';
const GPU_UUID = 'GPU-5e2b7f0c-3d1a-4c8e-9b6f-2a7d4e1c8b93';
const AGENT_LABEL = { 'app.kubernetes.io/name': `agentmeter-agent-${ID}` };
/**
 * Metrics the dashboards use that the operator does not export yet (see the README's metrics
 * reference). Their panels must return nothing until it does; then drop them from this list.
 */
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 500 ms until it returns a value, or fails with `what` after `tries`. */
function floatSum(values: readonly number[]): number {
  return values.reduce((sum, v) => sum + v, 0);
}

/**
 * How far two float64 sums of the same samples may differ when added in different orders (the
 * agent's exposition order here, Prometheus's series order there). Each sample crosses the edge
 * exactly: prom-client renders the shortest text that reads back as the same double, and
 * Prometheus parses it back to that double and renders its result the same way. What differs
 * is rounding: each of the n−1 additions rounds by at most half an ulp, so a sum is within
 * (n−1)·2⁻⁵³·Σ|xᵢ| of the exact sum (Higham, recursive summation), and two sums are within
 * twice that: (n−1)·Number.EPSILON·Σ|xᵢ|, as Number.EPSILON is 2⁻⁵².
 */
function sumTolerance(values: readonly number[]): number {
  const magnitude = values.reduce((sum, v) => sum + Math.abs(v), 0);
  return Math.max(values.length - 1, 0) * Number.EPSILON * magnitude;
}

async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  tries = 240,
): Promise<T> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await sleep(500);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

function hex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

/** One OTLP/JSON request: a span per session over the last second, each with token usage. */
function spansBody(sessions: readonly string[]): string {
  const endNs = BigInt(Date.now()) * 1_000_000n;
  const startNs = endNs - 1_000_000_000n;
  const attr = (key: string, value: string | number) => ({
    key,
    value: typeof value === 'number' ? { intValue: String(value) } : { stringValue: value },
  });
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [attr('service.name', 'agent-runtime')] },
        scopeSpans: [
          {
            scope: { name: 'prom-e2e' },
            spans: sessions.map((session) => ({
              traceId: hex(16),
              spanId: hex(8),
              name: 'chat',
              kind: 3,
              startTimeUnixNano: startNs.toString(),
              endTimeUnixNano: endNs.toString(),
              attributes: [
                attr('session.id', session),
                attr('gen_ai.request.model', MODEL),
                attr('gen_ai.usage.input_tokens', 1200),
                attr('gen_ai.usage.output_tokens', 300),
              ],
            })),
          },
        ],
      },
    ],
  });
}

/** POSTs spans from the pod's IP, as the pod's own traffic would arrive. */
function postSpans(otlpUrl: string, body: string): Promise<{ status: number; body: string }> {
  const url = new URL('/v1/traces', otlpUrl);
  return new Promise((done, fail) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        localAddress: POD_IP,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => done({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', fail);
    req.end(body);
  });
}

/** Ledger cost charged to `namespace` (pod usage and model calls), in nano-units, and per tick. */
function ledgerCost(entries: readonly LedgerEntry[], namespace: string) {
  let infrastructure = 0n;
  let tokens = 0n;
  const perTick = new Map<string, bigint>();
  for (const e of entries) {
    let nano: bigint | undefined;
    if (e.kind === 'pod-usage' && e.pod.namespace === namespace && e.cost) {
      nano = BigInt(e.cost.totalNano);
      infrastructure += nano;
    } else if (e.kind === 'calls' && e.pod.namespace === namespace && e.cost) {
      // Model calls are the `tokens` kind of agentmeter_namespace_cost_total.
      nano = e.calls
        .filter((c) => c.kind === 'model')
        .reduce((sum, c) => sum + BigInt(c.costNano ?? '0'), 0n);
      tokens += nano;
    }
    if (nano !== undefined && 'tick' in e) perTick.set(e.tick, (perTick.get(e.tick) ?? 0n) + nano);
  }
  const maxTick = [...perTick.values()].reduce((a, b) => (a > b ? a : b), 0n);
  return { infrastructure, tokens, maxTick };
}

const units = (nano: bigint): number => Number(nano) / 1e9;

describe('dashboards', () => {
  const required = ['budgets', 'chargeback', 'gpu', 'health', 'sessions'].map(
    (n) => `agentmeter-${n}.json`,
  );

  it('are the five dashboards, each valid Grafana JSON on a ${datasource} variable', () => {
    const all = dashboards();
    expect(all.map((d) => d.file)).toEqual(required);
    expect(new Set(all.map((d) => d.json.uid)).size).toBe(all.length);
    for (const { file, json } of all) {
      expect(json.schemaVersion, file).toBe(39);
      expect(json.title, file).toMatch(/^agentmeter \/ /);
      const ds = json.templating.list.find((v) => v.name === 'datasource');
      expect(ds, file).toMatchObject({ type: 'datasource', query: 'prometheus' });
      const ids = json.panels.map((p) => p.id);
      expect(new Set(ids).size, `${file}: panel ids`).toBe(ids.length);
      for (const panel of json.panels) {
        const where = `${file} "${panel.title}"`;
        expect(panel.gridPos.x + panel.gridPos.w, where).toBeLessThanOrEqual(24);
        if (panel.type === 'row') continue;
        expect(panel.datasource, where).toEqual({ type: 'prometheus', uid: '${datasource}' });
        expect(panel.targets?.length, where).toBeGreaterThan(0);
        const refIds = (panel.targets ?? []).map((t) => t.refId);
        expect(new Set(refIds).size, where).toBe(refIds.length);
        for (const t of panel.targets ?? []) {
          expect(t.expr, where).not.toBe('');
          // Invariant 7: no session or trace ids in metrics, so none in queries either.
          expect(t.expr, where).not.toMatch(/session_id|trace_id|span_id/);
        }
      }
    }
  });
});

describe('Prometheus end to end', () => {
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  const custom = adminKubeConfig().makeApiClient(CustomObjectsApi);
  const sessions = ['s-alpha', 's-beta', 'gamma-3'].map((s) => `${s}-${ID}`);
  let work: string;
  let group: TestPodCgroup | undefined;
  let kubelet: FakeKubelet | undefined;
  let agent: AgentProcess | undefined;
  let operator: ChildProcess | undefined;
  let operatorExited: Promise<void> | undefined;
  const operatorLogs: string[] = [];
  let prometheus: PrometheusServer | undefined;
  let spanTimer: NodeJS.Timeout | undefined;
  const spanErrors: string[] = [];
  let targets: DashboardTarget[];

  async function runningPod(namespace: string, pod: V1Pod, ip: string): Promise<string> {
    const created = await core.createNamespacedPod({ namespace, body: pod });
    const name = created.metadata?.name as string;
    // Pod IP and phase as a kubelet would report them (no kubelet runs here).
    created.status = { phase: 'Running', podIP: ip, podIPs: [{ ip }] };
    await core.replaceNamespacedPodStatus({ name, namespace, body: created });
    return created.metadata?.uid as string;
  }

  beforeAll(async () => {
    requirePrometheus();
    work = await mkdtemp(join(tmpdir(), 'agentmeter-prom-e2e-'));
    const rules = await renderRules();
    await writeFile(join(work, 'rules.yaml'), rules);

    await core.createNamespace({
      body: { metadata: { name: NAMESPACE, labels: { 'agentmeter.dev/e2e': ID } } },
    });
    await core.createNamespace({ body: { metadata: { name: AGENT_NAMESPACE } } });
    // A tiny Policy budget so it is exceeded (and alerts); roomy Namespace and Session budgets.
    const budget = (name: string, scope: Budget['scope'], amount: string): Budget => ({
      name,
      amount,
      period: 'Daily',
      timeZone: 'UTC',
      scope,
      thresholds: [80, 100],
      action: 'Notify',
    });
    await createCostPolicy(custom, POLICY, {
      priority: 1000,
      selector: { namespaceSelector: { matchLabels: { 'agentmeter.dev/e2e': ID } } },
      currency: 'USD',
      rates: {
        cpuCoreHour: '36',
        memoryGiBHour: '0.5',
        gpuHour: { default: '3.60', basis: 'Allocation' },
        tokens: [{ model: MODEL, inputPerMillion: '3.00', outputPerMillion: '15.00' }],
      },
      budgets: [
        budget('total', 'Policy', '0.000001'),
        budget('per-namespace', 'Namespace', '100000'),
        budget('per-session', 'Session', '100000'),
      ],
    });

    const uid = await runningPod(
      NAMESPACE,
      {
        metadata: { name: 'runtime' },
        spec: { nodeName: NODE, containers: [{ name: 'main', image: 'example.invalid/rt:1' }] },
      },
      POD_IP,
    );
    group = await createPodCgroup({ uid, prefix: PREFIX });
    // A quarter of a core is plenty to measure and spares the other suites on this machine.
    const quota = join(group.podDir('cpu'), 'cpu.cfs_quota_us');
    if (existsSync(quota)) await writeFile(quota, '25000');
    const burner = group.run('sh', ['-c', 'while :; do :; done']);

    kubelet = await FakeKubelet.start(join(work, 'kubelet.sock'), [
      {
        namespace: NAMESPACE,
        name: 'runtime',
        containers: [
          { name: 'main', devices: [{ resourceName: 'nvidia.com/gpu', deviceIds: [GPU_UUID] }] },
        ],
      },
    ]);

    const agentPort = await freePort(AGENT_HOST);
    // GPU metering on, with the recorded-output nvidia-smi reporting the burner as a GPU process.
    agent = await AgentProcess.start({
      nodeName: NODE,
      kubeconfig: controlPlane().kubeconfig,
      stateDir: work,
      host: AGENT_HOST,
      port: agentPort,
      tick: '1s',
      token: controlPlane().admin.token,
      gpu: {
        nvidiaSmi: join(FAKE_NVIDIA_SMI_BIN, 'nvidia-smi'),
        podResourcesSocket: kubelet.socketPath,
      },
      env: {
        FAKE_NVIDIA_SMI_SCENARIO: scenarioDir('t4-single'),
        FAKE_NVIDIA_SMI_PIDS: `podA=${burner.pid}`,
      },
    });
    await agent.waitReady();
    // The agent as the operator finds it: a pod of its own on the node, at the agent's address.
    await runningPod(
      AGENT_NAMESPACE,
      {
        metadata: { name: 'agent', labels: AGENT_LABEL },
        spec: { nodeName: NODE, containers: [{ name: 'agent', image: 'example.invalid/a:1' }] },
      },
      AGENT_HOST,
    );

    const tokenFile = join(work, 'ledger-token');
    await writeFile(tokenFile, controlPlane().admin.token, { mode: 0o600 });
    const operatorPort = await freePort(OPERATOR_HOST);
    const image = shipped('operator');
    operator = spawn(
      process.execPath,
      [
        ...image.flags,
        image.script,
        `--kubeconfig=${controlPlane().kubeconfig}`,
        `--listen=${OPERATOR_HOST}:${operatorPort}`,
        '--leader-election=true',
        `--namespace=${AGENT_NAMESPACE}`,
        `--lease-name=agentmeter-operator-${ID}`,
        `--identity=prom-e2e-${ID}`,
        `--agent-selector=app.kubernetes.io/name=${AGENT_LABEL['app.kubernetes.io/name']}`,
        `--agent-port=${agentPort}`,
        `--ledger-token-file=${tokenFile}`,
        '--interval=2s',
        `--store-path=${join(work, 'store.db')}`,
      ],
      { cwd: image.dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...image.env } },
    );
    operator.stdout?.on('data', (c: Buffer) => operatorLogs.push(c.toString()));
    operator.stderr?.on('data', (c: Buffer) => operatorLogs.push(c.toString()));
    operatorExited = new Promise((done) => operator?.on('exit', () => done()));

    const otlpUrl = agent.otlpUrl;
    const send = (): void => {
      postSpans(otlpUrl, spansBody(sessions))
        .then((res) => {
          if (res.status !== 200 || /rejectedSpans"?:\s*"?[1-9]/.test(res.body))
            spanErrors.push(`${res.status} ${res.body}`);
        })
        .catch((err: unknown) => spanErrors.push(String(err)));
    };
    send();
    spanTimer = setInterval(send, 1000);

    prometheus = await PrometheusServer.start({
      dir: work,
      ruleFile: join(work, 'rules.yaml'),
      targets: [
        { job: AGENT_JOB, target: new URL(agent.metricsUrl).host },
        { job: OPERATOR_JOB, target: `${OPERATOR_HOST}:${operatorPort}` },
      ],
    });
    targets = dashboardTargets({
      datasource: 'prometheus',
      namespace: NAMESPACE,
      policy: POLICY,
      agent_job: AGENT_JOB,
      operator_job: OPERATOR_JOB,
    });
  });

  afterAll(async () => {
    if (spanTimer) clearInterval(spanTimer);
    await prometheus?.stop();
    if (operator && operator.exitCode === null && operator.signalCode === null) {
      operator.kill('SIGTERM');
    }
    await operatorExited;
    await agent?.stop();
    await kubelet?.stop();
    await group?.remove();
    await removePrefix(PREFIX);
    await custom
      .deleteClusterCustomObject({
        group: 'agentmeter.dev',
        version: 'v1alpha1',
        plural: 'costpolicies',
        name: POLICY,
      })
      .catch(() => undefined);
    for (const name of [NAMESPACE, AGENT_NAMESPACE])
      await core.deleteNamespace({ name }).catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('both targets are up and every rule evaluates without error', async () => {
    const ups = await until('both targets up', async () => {
      const r = await prometheus?.query('up == 1');
      return r && r.length === 2 ? r : undefined;
    });
    expect(ups.map((s) => s.metric.job).sort()).toEqual([AGENT_JOB, OPERATOR_JOB]);
    const rules = await until('every rule evaluated', async () => {
      const all = (await prometheus?.rules()) ?? [];
      return all.length > 0 && all.every((r) => r.health !== 'unknown') ? all : undefined;
    });
    expect(rules.filter((r) => r.health !== 'ok')).toEqual([]);
    expect(spanErrors).toEqual([]);
  });

  it('every dashboard panel query returns data', async () => {
    const missing = await until(
      'every panel to have data',
      async () => {
        const empty: string[] = [];
        for (const t of targets) {
          const result = (await prometheus?.query(t.expr)) ?? [];
          if (result.length === 0) empty.push(`${t.dashboard} "${t.panel}" ${t.refId}: ${t.expr}`);
        }
        return empty.length === 0 ? empty : undefined;
      },
      180,
    ).catch((err: Error) => [
      err.message,
      ...operatorLogs.slice(-20),
      ...(agent?.logs.slice(-20) ?? []),
    ]);
    expect(missing).toEqual([]);
  });

  it('the exceeded Policy budget fires AgentmeterBudgetExceeded', async () => {
    const firing = await until('AgentmeterBudgetExceeded', async () => {
      const r = await prometheus?.query(
        `ALERTS{alertname="AgentmeterBudgetExceeded", alertstate="firing", policy="${POLICY}"}`,
      );
      return r && r.length > 0 ? r : undefined;
    });
    expect(firing.map((s) => s.metric.budget)).toEqual(['total']);
  });

  it('per-namespace cost in Prometheus matches the ledger within one scrape interval', async () => {
    const a = agent as AgentProcess;
    const prom = prometheus as PrometheusServer;
    // Stop the workload (spans, then its processes and cgroup), so the namespace's cost settles.
    clearInterval(spanTimer);
    spanTimer = undefined;
    await group?.remove();
    /** The namespace's cost samples as the agent renders them, in exposition order. */
    const exported = async (): Promise<number[]> => {
      const text = await a.metrics();
      const samples: number[] = [];
      for (const line of text.split('\n')) {
        if (
          line.startsWith('agentmeter_namespace_cost_total{') &&
          line.includes(`namespace="${NAMESPACE}"`)
        )
          samples.push(Number(line.slice(line.lastIndexOf(' ') + 1)));
      }
      return samples;
    };
    let previous = '';
    let stableReads = 0;
    const settledSamples = await until('the agent to stop charging the namespace', async () => {
      const now = await exported();
      // Compared as rendered, sample by sample: unchanged text means nothing was charged.
      const text = now.join(' ');
      stableReads = text === previous ? stableReads + 1 : 0;
      previous = text;
      // Six equal reads 500 ms apart: past the settlement watermark (two 1 s ticks).
      return stableReads >= 6 ? now : undefined;
    });
    const settled = floatSum(settledSamples);
    const query = `sum(agentmeter_namespace_cost_total{namespace="${NAMESPACE}"})`;
    // Compared with what the agent exports at that moment, not with the first settled read: on a
    // loaded machine a late tick can still add to the namespace after six equal reads.
    const scraped = await until('Prometheus to scrape the settled cost', async () => {
      const value = Number((await prom.query(query))[0]?.value[1]);
      const samples = await exported();
      return Math.abs(value - floatSum(samples)) <= sumTolerance(samples) ? value : undefined;
    });
    expect(scraped).toBeGreaterThanOrEqual(settled - sumTolerance(settledSamples));
    const cost = ledgerCost(await a.ledger(), NAMESPACE);
    const ledger = units(cost.infrastructure + cost.tokens);
    expect(cost.infrastructure).toBeGreaterThan(0n);
    expect(cost.tokens).toBeGreaterThan(0n);
    // One scrape interval is one tick here: the most the namespace was charged in one tick.
    expect(Math.abs(scraped - ledger)).toBeLessThanOrEqual(units(cost.maxTick));
    const byKind = async (kind: string): Promise<number> =>
      Number(
        (
          await prom.query(
            `sum(agentmeter_namespace_cost_total{namespace="${NAMESPACE}", kind="${kind}"})`,
          )
        )[0]?.value[1],
      );
    expect(
      Math.abs((await byKind('infrastructure')) - units(cost.infrastructure)),
    ).toBeLessThanOrEqual(units(cost.maxTick));
    expect(Math.abs((await byKind('tokens')) - units(cost.tokens))).toBeLessThanOrEqual(
      units(cost.maxTick),
    );
    expect(
      metricValue(await a.metrics(), 'agentmeter_sessions_active', { namespace: NAMESPACE }),
    ).toBe(sessions.length);
    // Every span post the workload made was accepted.
    expect(spanErrors).toEqual([]);
  });
});
