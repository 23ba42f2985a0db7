// Upstream Prometheus (built from its Go module by hack/build-prometheus.sh: Debian's package has
// no Kubernetes discovery) scraping the chart's pods on the real node the way a cluster's
// Prometheus does: Kubernetes pod service discovery against the node's apiserver, with a ServiceAccount
// token and RBAC of its own (read pods in the chart's namespace, nothing more), keeping the
// agent's `metrics` port and the operator's `http` port, as the chart's PodMonitor and
// ServiceMonitor select them. The chart's rules are loaded. A priced namespace with budgets, a
// burner, the OTel SDK app's sessions and a pod holding the (replayed) GPU give every panel
// something to show; then every dashboard query must return data, every rule must evaluate, and
// the spend Prometheus reads back must be the CostPolicy status's, within float rendering.
import { parseMoney } from '@agentmeter/crds';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentRuntimePod, driveSession, type SessionStats } from '../../hack/demo/workloads.ts';
import {
  AGENT_JOB,
  OPERATOR_JOB,
  PrometheusServer,
  dashboardTargets,
  renderRules,
  upstreamPrometheus,
} from '../prometheus/harness.ts';
import type { FakeGpuPlugin } from '../support/gpu-device-plugin.ts';
import { eventually, waitFor } from '../support/wait.ts';
import {
  apply,
  chartRelease,
  kubectl,
  kubectlJson,
  kubectlOk,
  realNode,
} from './support/cluster.ts';
import { disableGpuMetering, enableGpuMetering, gpuPod, startGpuPlugin } from './support/gpu.ts';
import {
  busyboxContainer,
  createNamespace,
  deleteNamespace,
  listPods,
  singleContainerPod,
  waitForPodPhase,
} from './support/pods.ts';
import { namespacePolicy, createPolicyNamespace } from './support/policies.ts';
import { scaledSample } from './support/views.ts';

const RBAC_NAME = 'agentmeter-test-prometheus';
const NANO = 1_000_000_000n;

/**
 * How far a money value read back from Prometheus may be from the exact decimal, in nano-units.
 * The operator exports Number(decimal string): the nearest double, within half an ulp, so at
 * most |x|·2⁻⁵³ away. Both prom-client and Prometheus render a double as the shortest text that
 * reads back as the same double, so the text is that double; reading its digits to nano-units
 * truncates less than one more. Nothing else may differ.
 */
function renderingToleranceNano(nano: bigint): bigint {
  const magnitude = nano < 0n ? -nano : nano;
  return magnitude / 2n ** 53n + 2n;
}

interface PolicyObject {
  status?: { budgets?: { name: string; spent: string }[] };
}

describe('Prometheus on the real node (Kubernetes pod service discovery)', () => {
  let namespace = '';
  let monitoring = '';
  const policy = `prom-${Math.random().toString(36).slice(2, 8)}`;
  let dir = '';
  let prometheus: PrometheusServer | undefined;
  let plugin: FakeGpuPlugin | undefined;
  let driverDir = '';
  const stop = new AbortController();
  const stats: SessionStats[] = [];
  let sessions: Promise<void>[] = [];

  beforeAll(async () => {
    const binary = await upstreamPrometheus();
    const node = realNode();
    const { release, namespace: system } = chartRelease();

    namespace = await createPolicyNamespace('prom', policy);
    // GPU metering first: upgrading the agent restarts it, before the namespace has any usage.
    plugin = await startGpuPlugin();
    await apply([gpuPod('trainer', namespace)]);
    driverDir = await enableGpuMetering(await waitForPodPhase(namespace, 'trainer', ['Running']));

    await apply([
      namespacePolicy(policy, {
        rates: {
          cpuCoreHour: '36',
          memoryGiBHour: '1',
          networkGiB: '1',
          ioGiB: '1',
          gpuHour: { default: '3.60', basis: 'Allocation' },
          tokens: [{ model: '*', inputPerMillion: '3', outputPerMillion: '15' }],
        },
        budgets: [
          // Exceeded at once, so the budget alert fires.
          { name: 'total', amount: '0.000001', period: 'Monthly', action: 'Notify' },
          {
            name: 'per-namespace',
            amount: '100',
            period: 'Daily',
            scope: 'Namespace',
            action: 'Notify',
          },
          {
            name: 'per-session',
            amount: '100',
            period: 'Daily',
            scope: 'Session',
            action: 'Notify',
          },
        ],
      }),
      singleContainerPod(
        'burner',
        namespace,
        busyboxContainer('burn', 'while :; do :; done', {
          resources: { limits: { cpu: '100m', memory: '16Mi' } },
        }),
      ),
      agentRuntimePod(
        namespace,
        node.images['agent-app'] ?? 'agentmeter.local/agent-app:dev',
        `http://${release}-otlp.${system}.svc.${node.clusterDomain}:4318`,
      ),
    ]);
    await waitForPodPhase(namespace, 'burner', ['Running']);
    const app = await waitForPodPhase(namespace, 'agent-runtime-0', ['Running']);
    const base = `http://${app.status.podIP}:8080`;
    await waitFor(
      'the app to answer',
      async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.ok === true,
    );
    // Sessions for as long as the dashboards are checked: spans, tokens, session budgets.
    sessions = ['s-1', 's-2'].map((id) => {
      const s: SessionStats = { runs: 0, failed: 0 };
      stats.push(s);
      return driveSession(base, { id, model: 'claude-sonnet-4-5' }, s, stop.signal);
    });

    // Prometheus' identity: a ServiceAccount of its own, allowed to read pods where it looks.
    monitoring = await createNamespace('monitoring');
    await kubectlOk(['create', 'serviceaccount', 'prometheus', '-n', monitoring]);
    await apply([
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: RBAC_NAME, namespace: system },
        rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: RBAC_NAME, namespace: system },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: RBAC_NAME },
        subjects: [{ kind: 'ServiceAccount', name: 'prometheus', namespace: monitoring }],
      },
    ]);
    dir = await mkdtemp(join(tmpdir(), 'agentmeter-prom-'));
    const tokenFile = join(dir, 'token');
    const token = await kubectlOk(['create', 'token', 'prometheus', '-n', monitoring]);
    await writeFile(tokenFile, token.trim(), { mode: 0o600 });
    const ruleFile = join(dir, 'rules.yaml');
    await writeFile(ruleFile, await renderRules());
    prometheus = await PrometheusServer.start({
      binary,
      dir,
      ruleFile,
      targets: [],
      scrapeConfigs: [
        {
          job_name: 'kubernetes-pods',
          // As the chart's PodMonitor and ServiceMonitor: the namespace and pod labels of our
          // series name the workload measured, not the scrape target.
          honor_labels: true,
          kubernetes_sd_configs: [
            {
              role: 'pod',
              api_server: node.server,
              tls_config: { ca_file: node.caFile },
              authorization: { credentials_file: tokenFile },
              namespaces: { names: [system] },
            },
          ],
          relabel_configs: [
            { source_labels: ['__meta_kubernetes_pod_phase'], regex: 'Running', action: 'keep' },
            {
              source_labels: [
                '__meta_kubernetes_pod_label_app_kubernetes_io_component',
                '__meta_kubernetes_pod_container_port_name',
              ],
              regex: 'agent;metrics|operator;http',
              action: 'keep',
            },
            {
              source_labels: ['__meta_kubernetes_pod_label_app_kubernetes_io_component'],
              target_label: 'job',
              replacement: 'agentmeter-$1',
            },
          ],
        },
      ],
    });
  });

  afterAll(async () => {
    stop.abort();
    await Promise.all(sessions);
    await prometheus?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    const { namespace: system } = chartRelease();
    await kubectl(['delete', 'rolebinding,role', RBAC_NAME, '-n', system, '--ignore-not-found']);
    await kubectl(['delete', 'costpolicy', policy, '--ignore-not-found']);
    if (monitoring) await deleteNamespace(monitoring);
    if (namespace) await deleteNamespace(namespace);
    await disableGpuMetering(driverDir);
    await plugin?.stop();
  });

  it('discovers the agent and the operator through the apiserver and scrapes them', async () => {
    const { namespace: system } = chartRelease();
    const want = [
      ...(await listPods(system, 'app.kubernetes.io/component=agent')).map(
        (p) => `${AGENT_JOB} ${p.metadata.name}`,
      ),
      ...(await listPods(system, 'app.kubernetes.io/component=operator')).map(
        (p) => `${OPERATOR_JOB} ${p.metadata.name}`,
      ),
    ].sort();
    const up = await eventually(
      'every discovered target to be up',
      async () => {
        const targets = (await prometheus?.targets()) ?? [];
        const healthy = targets
          .filter((t) => t.health === 'up')
          .map((t) => `${t.labels.job} ${t.discoveredLabels.__meta_kubernetes_pod_name}`)
          .sort();
        return healthy.length === want.length && healthy;
      },
      120_000,
      1000,
    );
    expect(up).toEqual(want);
    expect(want.filter((t) => t.startsWith(OPERATOR_JOB)).length).toBeGreaterThan(0);
  });

  it('every dashboard query returns data and every rule evaluates without error', async () => {
    const targets = dashboardTargets({
      datasource: 'prometheus',
      namespace,
      policy,
      agent_job: AGENT_JOB,
      operator_job: OPERATOR_JOB,
    });
    let empty: string[] = [];
    await eventually(
      'every dashboard query to return data',
      async () => {
        empty = [];
        for (const t of targets) {
          const result = (await prometheus?.query(t.expr)) ?? [];
          if (result.length === 0) empty.push(`${t.dashboard} "${t.panel}" ${t.refId}: ${t.expr}`);
        }
        return empty.length === 0;
      },
      300_000,
      5000,
    ).catch(() => undefined);
    process.stdout.write(
      `prometheus: ${targets.length - empty.length} of ${targets.length} dashboard queries return data\n`,
    );
    expect(empty).toEqual([]);
    const rules = await eventually(
      'every rule evaluated',
      async () => {
        const all = (await prometheus?.rules()) ?? [];
        return all.length > 0 && all.every((r) => r.health !== 'unknown') && all;
      },
      120_000,
      1000,
    );
    expect(rules.filter((r) => r.health !== 'ok')).toEqual([]);
    expect(stats.every((s) => s.runs > 0)).toBe(true);
  });

  it("reads back the policy's spend as the CostPolicy status shows it, within float rendering", async () => {
    const prom = prometheus as PrometheusServer;
    // The workload stops, so the spend settles and status and scrape meet.
    stop.abort();
    await Promise.all(sessions);
    await kubectlOk(['delete', 'pod', 'burner', 'agent-runtime-0', 'trainer', '-n', namespace]);
    const query = `agentmeter_budget_spend{job="${OPERATOR_JOB}", policy="${policy}", budget="total"}`;
    const seen = await eventually(
      'Prometheus to hold the spend the status shows',
      async () => {
        const spent = async (): Promise<string | undefined> =>
          (await kubectlJson<PolicyObject>(['get', 'costpolicy', policy])).status?.budgets?.find(
            (b) => b.name === 'total',
          )?.spent;
        const before = await spent();
        const [sample, ...more] = await prom.query(query);
        const after = await spent();
        if (before === undefined || before !== after || !sample || more.length > 0) return false;
        const status = parseMoney(before);
        const scraped = scaledSample(sample.value[1], NANO);
        const off = scraped > status ? scraped - status : status - scraped;
        return off <= renderingToleranceNano(status) && { status, text: sample.value[1], off };
      },
      240_000,
      2000,
    );
    process.stdout.write(
      `prometheus: ${policy} total ${seen.text} USD scraped, status ${seen.status} nano-USD, ${seen.off} nano apart (tolerance ${renderingToleranceNano(seen.status)})\n`,
    );
    expect(seen.status).toBeGreaterThan(0n);
  });
});
