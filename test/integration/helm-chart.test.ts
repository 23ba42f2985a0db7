// The Helm chart against a pinned Helm and the real kube-apiserver: lint and render for the
// default values and every ci/ values file, server-side dry run, a real apply, and then the
// chart's own ServiceAccounts' tokens checked for exactly the access each component needs.
// Also the container images' entrypoints, which are tested as plain processes (no engine here).
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEDGER_ACCESS } from '../../node-agent/src/http/auth.ts';
import { SESSION_ACCESS } from '@agentmeter/kube-client/access';
import { entrypoint, nodeEntrypoint } from '../support/dockerfile.ts';
import { applyCrds, controlPlane, kubectl, type CommandResult } from '../support/kube.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const chartDir = join(repoRoot, 'charts', 'agentmeter');
const KUBE_VERSION = '1.36.3';
const MONITORING_API = 'monitoring.coreos.com/v1';
const MONITORING_KINDS = ['ServiceMonitor', 'PodMonitor', 'PrometheusRule'];

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: Record<string, unknown> & { template?: { spec: PodSpec } };
  [key: string]: unknown;
}
interface Container {
  name: string;
  securityContext: Record<string, unknown> & { capabilities?: { add?: string[]; drop?: string[] } };
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
  env: { name: string; value?: string }[];
  resources: { requests: Record<string, string>; limits: Record<string, string> };
}
interface PodSpec {
  hostPID?: boolean;
  serviceAccountName: string;
  runtimeClassName?: string;
  priorityClassName?: string;
  securityContext: Record<string, unknown>;
  containers: Container[];
  volumes: (Record<string, unknown> & { name: string; hostPath?: { path: string } })[];
  tolerations?: unknown[];
}

// NetworkPolicy ingress semantics (networking.k8s.io/v1), for the rendered policy: a peer is a
// pod (its namespace's labels and its own) or null for anything that is not a pod (a node, an
// address outside the cluster). Rules are ORed; within a rule, any `from` entry and any port.
interface LabelSelector {
  matchLabels?: Record<string, string>;
}
interface NetworkPolicyPeer {
  namespaceSelector?: LabelSelector;
  podSelector?: LabelSelector;
}
interface NetworkPolicySpec {
  podSelector: LabelSelector;
  policyTypes: string[];
  ingress: { from?: NetworkPolicyPeer[]; ports: { port: string; protocol: string }[] }[];
}
type Peer = { namespace: Record<string, string>; pod: Record<string, string> } | null;

function matches(
  selector: LabelSelector | null | undefined,
  labels: Record<string, string>,
): boolean {
  return Object.entries(selector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
}

function templateLabels(m: Manifest): Record<string, string> {
  return (m.spec as unknown as { template: { metadata: { labels: Record<string, string> } } })
    .template.metadata.labels;
}

function admits(
  spec: NetworkPolicySpec,
  policyNamespace: string,
  peer: Peer,
  port: string,
): boolean {
  expect(spec.policyTypes).toEqual(['Ingress']);
  return spec.ingress.some(
    (rule) =>
      rule.ports.some((p) => p.port === port && p.protocol === 'TCP') &&
      (rule.from === undefined ||
        rule.from.some((from) => {
          if (peer === null) return false; // no ipBlock entries: only pods are ever admitted
          // A podSelector alone means pods of the policy's own namespace.
          const namespaceOk =
            from.namespaceSelector === undefined
              ? peer.namespace['kubernetes.io/metadata.name'] === policyNamespace
              : matches(from.namespaceSelector, peer.namespace);
          return namespaceOk && matches(from.podSelector, peer.pod);
        })),
  );
}

/** The values files the chart is held to: the defaults plus every file in ci/. */
const valuesFiles: (string | undefined)[] = [
  undefined,
  ...readdirSync(join(chartDir, 'ci'))
    .filter((f) => f.endsWith('-values.yaml') && f !== 'default-values.yaml')
    .sort()
    .map((f) => `ci/${f}`),
];
const label = (file: string | undefined): string => file ?? 'default values';

function run(cmd: string, args: string[], input?: string, cwd = repoRoot): Promise<CommandResult> {
  return new Promise((done) => {
    const child = execFile(
      cmd,
      args,
      { cwd, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        done({ code, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

let helmBin = '';
const helm = (args: string[]): Promise<CommandResult> => run(helmBin, args);
/** `helm lint --strict` of the chart for KUBE_VERSION, with more arguments. */
const lint = (...args: string[]): Promise<CommandResult> =>
  helm(['lint', '--strict', chartDir, '--kube-version', KUBE_VERSION, ...args]);

async function render(
  release: string,
  namespace: string,
  file: string | undefined,
  opts: { monitoringApi?: boolean; set?: string[] } = {},
): Promise<{ text: string; docs: Manifest[] }> {
  const res = await helm([
    'template',
    release,
    chartDir,
    '--namespace',
    namespace,
    '--kube-version',
    KUBE_VERSION,
    ...(file ? ['-f', join(chartDir, file)] : []),
    ...(opts.monitoringApi ? ['--api-versions', MONITORING_API] : []),
    ...(opts.set ?? []).flatMap((s) => ['--set', s]),
  ]);
  expect(res.code, res.stderr).toBe(0);
  const docs = parseAllDocuments(res.stdout)
    .map((d) => d.toJS() as Manifest | null)
    .filter((d): d is Manifest => d !== null);
  return { text: res.stdout, docs };
}

function one(docs: Manifest[], kind: string, nameSuffix = ''): Manifest {
  const found = docs.filter((d) => d.kind === kind && d.metadata.name.endsWith(nameSuffix));
  expect(found, `${kind} *${nameSuffix}`).toHaveLength(1);
  return found[0] as Manifest;
}

function podSpec(m: Manifest): PodSpec {
  const spec = m.spec?.template?.spec;
  if (!spec) throw new Error(`${m.kind} ${m.metadata.name} has no pod template`);
  return spec;
}

beforeAll(async () => {
  const res = await run('bash', ['hack/ensure-helm.sh']);
  expect(res.code, res.stderr).toBe(0);
  helmBin = res.stdout.trim();
});

describe('helm lint and template', () => {
  it.each(valuesFiles.map((f) => [label(f), f]))('lint --strict passes: %s', async (_, file) => {
    const res = await lint(...(file ? ['-f', join(chartDir, file)] : []));
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(res.stdout).toContain('0 chart(s) failed');
  });

  it('the schema refuses unknown keys and out-of-range values', async () => {
    const res = await lint('--set', 'agent.port=0', '--set', 'operator.replica=2');
    expect(res.code).not.toBe(0);
    expect(res.stdout).toContain('agent.port: Must be greater than or equal to 1');
    expect(res.stdout).toContain('Additional property replica is not allowed');
  });

  /** `helm template` with `sets`, which the chart must refuse naming `reason`. */
  async function expectRefused(sets: readonly string[], reason: string): Promise<void> {
    const args = sets.flatMap((v) => ['--set', v]);
    const res = await helm(['template', 'x', chartDir, '--kube-version', KUBE_VERSION, ...args]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain(reason);
  }

  it('refuses several operator replicas without leader election', async () => {
    await expectRefused(
      [
        'store.mode=postgres',
        'store.postgres.existingSecret=pg',
        'operator.leaderElection.enabled=false',
      ],
      'needs operator.leaderElection.enabled',
    );
  });

  it('refuses store.mode postgres without the Secret that holds the URL', async () => {
    await expectRefused(
      ['store.mode=postgres'],
      'store.mode postgres needs store.postgres.existingSecret',
    );
  });

  it('store.mode embedded (default): one replica recreated on a PVC, the store file on it', async () => {
    const { docs } = await render('emb', 'agentmeter', undefined, {
      set: ['operator.replicas=3'],
    });
    const deploy = one(docs, 'Deployment');
    expect(deploy.spec?.replicas).toBe(1);
    expect(deploy.spec?.strategy).toEqual({ type: 'Recreate' });
    const op = podSpec(deploy);
    const oc = op.containers[0] as Container;
    const env = Object.fromEntries(oc.env.map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      AGENTMETER_STORE_PATH: '/var/lib/agentmeter/store/store.db',
      AGENTMETER_RETENTION_CALLS: '30d',
      AGENTMETER_RETENTION_SESSIONS: '90d',
      AGENTMETER_RETENTION_ROLLUPS: '800d',
    });
    expect(env.AGENTMETER_STORE_URL).toBeUndefined();
    expect(oc.volumeMounts.find((m) => m.name === 'store')?.mountPath).toBe(
      '/var/lib/agentmeter/store',
    );
    const pvc = one(docs, 'PersistentVolumeClaim');
    expect(op.volumes.find((v) => v.name === 'store')).toEqual({
      name: 'store',
      persistentVolumeClaim: { claimName: pvc.metadata.name },
    });
    expect(pvc.spec).toMatchObject({
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '5Gi' } },
    });
    expect(op.securityContext).toMatchObject({ fsGroup: 65532 });
    // One replica: a PodDisruptionBudget would only block node drains.
    expect(docs.filter((d) => d.kind === 'PodDisruptionBudget')).toEqual([]);

    const scratch = await render('emb', 'agentmeter', undefined, {
      set: ['store.embedded.persistence.enabled=false'],
    });
    expect(scratch.docs.filter((d) => d.kind === 'PersistentVolumeClaim')).toEqual([]);
    expect(
      podSpec(one(scratch.docs, 'Deployment')).volumes.find((v) => v.name === 'store'),
    ).toEqual({ name: 'store', emptyDir: {} });
  });

  it('store.mode postgres: leader-elected replicas, the URL from the Secret, no volume', async () => {
    const { docs } = await render('pg', 'agentmeter', undefined, {
      set: [
        'store.mode=postgres',
        'store.postgres.existingSecret=agentmeter-pg',
        'store.postgres.secretKey=dsn',
      ],
    });
    const deploy = one(docs, 'Deployment');
    expect(deploy.spec?.replicas).toBe(2);
    expect(deploy.spec?.strategy).toBeUndefined();
    const oc = podSpec(deploy).containers[0] as Container;
    const url = oc.env.find((e) => e.name === 'AGENTMETER_STORE_URL');
    expect(url).toEqual({
      name: 'AGENTMETER_STORE_URL',
      valueFrom: { secretKeyRef: { name: 'agentmeter-pg', key: 'dsn' } },
    });
    expect(oc.env.find((e) => e.name === 'AGENTMETER_STORE_PATH')).toBeUndefined();
    expect(oc.env.find((e) => e.name === 'AGENTMETER_LEADER_ELECTION')?.value).toBe('true');
    expect(oc.volumeMounts.find((m) => m.name === 'store')).toBeUndefined();
    expect(docs.filter((d) => d.kind === 'PersistentVolumeClaim')).toEqual([]);
    expect(one(docs, 'PodDisruptionBudget').spec).toMatchObject({ minAvailable: 1 });
  });

  it('operator.testClock (test only): off by default; set, the clock file is the ConfigMap key', async () => {
    const clockEnv = (docs: Manifest[]) =>
      (podSpec(one(docs, 'Deployment')).containers[0] as Container).env.find(
        (e) => e.name === 'AGENTMETER_CLOCK_FILE',
      );
    for (const file of valuesFiles) {
      const { docs, text } = await render('clk', 'agentmeter', file);
      expect(clockEnv(docs), label(file)).toBeUndefined();
      expect(text).not.toContain('test-clock');
    }
    const { docs } = await render('clk', 'agentmeter', undefined, {
      set: ['operator.testClock.configMap=suite-clock'],
    });
    expect(clockEnv(docs)?.value).toBe('/etc/agentmeter/test-clock/now');
    const op = podSpec(one(docs, 'Deployment'));
    const oc = op.containers[0] as Container;
    expect(oc.volumeMounts.find((m) => m.name === 'test-clock')).toEqual({
      name: 'test-clock',
      mountPath: '/etc/agentmeter/test-clock',
      readOnly: true,
    });
    // Whole, not by subPath: the kubelet carries a changed ConfigMap into the pod.
    expect(op.volumes.find((v) => v.name === 'test-clock')).toEqual({
      name: 'test-clock',
      configMap: { name: 'suite-clock', items: [{ key: 'now', path: 'now' }] },
    });
  });

  it.each(valuesFiles.map((f) => [label(f), f]))(
    'monitoring objects only when the Prometheus Operator API is served: %s',
    async (_, file) => {
      const without = await render('mon', 'agentmeter', file);
      expect(without.docs.filter((d) => MONITORING_KINDS.includes(d.kind))).toEqual([]);
      const withApi = await render('mon', 'agentmeter', file, { monitoringApi: true });
      const kinds = withApi.docs
        .filter((d) => MONITORING_KINDS.includes(d.kind))
        .map((d) => d.kind);
      const values = parse(readFileSync(join(chartDir, file ?? 'values.yaml'), 'utf8')) ?? {};
      if (values.monitoring?.serviceMonitor?.enabled === false) {
        expect(kinds).toEqual([]);
        return;
      }
      expect(kinds.sort()).toEqual([...MONITORING_KINDS].sort());
      const extra = values.monitoring?.podMonitor?.additionalLabels ?? {};
      for (const kind of MONITORING_KINDS) {
        expect(one(withApi.docs, kind).metadata.labels).toMatchObject(extra);
      }
    },
  );

  it('additionalLabels land on each monitoring object', async () => {
    const { docs } = await render('mon', 'agentmeter', undefined, {
      monitoringApi: true,
      set: [
        'monitoring.serviceMonitor.additionalLabels.sm=a',
        'monitoring.podMonitor.additionalLabels.pm=b',
        'monitoring.prometheusRule.additionalLabels.pr=c',
      ],
    });
    expect(one(docs, 'ServiceMonitor').metadata.labels).toMatchObject({ sm: 'a' });
    expect(one(docs, 'PodMonitor').metadata.labels).toMatchObject({ pm: 'b' });
    expect(one(docs, 'PrometheusRule').metadata.labels).toMatchObject({ pr: 'c' });
    const rule = one(docs, 'PrometheusRule');
    expect((rule.spec?.groups as unknown[]).length).toBeGreaterThan(0);
  });

  it('the CRDs are crds/manifests, unchanged but for labels and the keep policy', async () => {
    const { docs } = await render('crd', 'agentmeter', undefined);
    const dir = join(repoRoot, 'crds', 'manifests');
    const sources = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    const rendered = docs.filter((d) => d.kind === 'CustomResourceDefinition');
    expect(rendered).toHaveLength(sources.length);
    for (const file of sources) {
      const source = parse(readFileSync(join(dir, file), 'utf8')) as Manifest;
      const crd = rendered.find((d) => d.metadata.name === source.metadata.name);
      expect(crd, file).toBeDefined();
      const { labels, annotations, ...metadata } = (crd as Manifest).metadata;
      expect(annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
      expect(labels).toMatchObject({ 'app.kubernetes.io/part-of': 'agentmeter' });
      expect(isDeepStrictEqual({ ...crd, metadata }, source), `${file} differs`).toBe(true);
    }
  });

  it('default values: DaemonSet, Deployment and Services have the security and shape asked for', async () => {
    const { docs } = await render('shape', 'agentmeter', undefined);

    const ds = one(docs, 'DaemonSet');
    const agent = podSpec(ds);
    expect(agent.hostPID).toBe(true);
    expect(agent.securityContext).toMatchObject({ seccompProfile: { type: 'RuntimeDefault' } });
    expect(agent.priorityClassName).toBe(one(docs, 'PriorityClass').metadata.name);
    expect(agent.tolerations).toEqual([{ operator: 'Exists' }]);
    const ac = agent.containers[0] as Container;
    expect(ac.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'], add: ['SYS_PTRACE'] },
    });
    const hostPaths = Object.fromEntries(
      agent.volumes.filter((v) => v.hostPath).map((v) => [v.name, v.hostPath?.path]),
    );
    expect(hostPaths).toEqual({
      'host-sys': '/sys',
      'host-proc': '/proc',
      state: '/var/lib/agentmeter',
    });
    const mounts = Object.fromEntries(ac.volumeMounts.map((m) => [m.name, m]));
    expect(mounts['host-sys']).toMatchObject({ mountPath: '/host/sys', readOnly: true });
    expect(mounts['host-proc']).toMatchObject({ mountPath: '/host/proc', readOnly: true });
    expect(mounts.state?.readOnly).toBeUndefined();
    expect(ac.resources).toEqual({
      requests: { cpu: '20m', memory: '96Mi' },
      limits: { memory: '256Mi' },
    });
    const env = Object.fromEntries(ac.env.map((e) => [e.name, e.value ?? 'fieldRef']));
    expect(env).toMatchObject({
      NODE_NAME: 'fieldRef',
      POD_NAME: 'fieldRef',
      POD_NAMESPACE: 'fieldRef',
      POD_IP: 'fieldRef',
      AGENTMETER_CGROUP_ROOT: '/host/sys/fs/cgroup',
      AGENTMETER_PROC_ROOT: '/host/proc',
      AGENTMETER_LISTEN: '0.0.0.0:9464',
      AGENTMETER_METRICS_LISTEN: '0.0.0.0:9465',
      AGENTMETER_LEDGER_API_AUDIENCE: 'agentmeter',
    });
    expect(env.AGENTMETER_GPU).toBe('off');

    const deploy = one(docs, 'Deployment');
    expect(deploy.spec?.replicas).toBe(1);
    const op = podSpec(deploy);
    expect(op.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532 });
    const oc = op.containers[0] as Container;
    expect(oc.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(oc.resources).toEqual({
      requests: { cpu: '50m', memory: '128Mi' },
      limits: { memory: '384Mi' },
    });
    const tokenVolume = op.volumes.find((v) => v.name === 'ledger-token');
    expect(JSON.stringify(tokenVolume)).toContain('"audience":"agentmeter"');

    const otlp = one(docs, 'Service', '-otlp');
    expect(otlp.spec).toMatchObject({ internalTrafficPolicy: 'Local' });
    expect(one(docs, 'Service', '-agent').spec).toMatchObject({ clusterIP: 'None' });

    const dashboards = docs.filter((d) => d.kind === 'ConfigMap');
    expect(dashboards.length).toBe(readdirSync(join(chartDir, 'dashboards')).length);
    for (const cm of dashboards) {
      expect(cm.metadata.labels).toMatchObject({ grafana_dashboard: '1' });
      for (const json of Object.values(cm.data as Record<string, string>)) JSON.parse(json);
    }
  });

  it('NetworkPolicy: OTLP from any pod, metrics from the monitoring namespaces, the API from the operator', async () => {
    const { docs } = await render('np', 'agentmeter', undefined);
    const policy = one(docs, 'NetworkPolicy') as Manifest & { spec: NetworkPolicySpec };
    const ds = one(docs, 'DaemonSet');
    const agentLabels = templateLabels(ds);
    expect(matches(policy.spec.podSelector, agentLabels)).toBe(true);
    // Every port the policy names is a port of the agent's container.
    const ports = (podSpec(ds).containers[0] as Container & { ports: { name: string }[] }).ports;
    for (const rule of policy.spec.ingress)
      for (const p of rule.ports) expect(ports.map((c) => c.name)).toContain(p.port);
    const operatorLabels = templateLabels(one(docs, 'Deployment'));
    const tenantPod: Peer = { namespace: { 'kubernetes.io/metadata.name': 'team-a' }, pod: {} };
    const prometheus: Peer = {
      namespace: { 'kubernetes.io/metadata.name': 'monitoring' },
      pod: { app: 'prometheus' },
    };
    const operator: Peer = {
      namespace: { 'kubernetes.io/metadata.name': 'agentmeter' },
      pod: operatorLabels,
    };
    const lookalike: Peer = {
      namespace: { 'kubernetes.io/metadata.name': 'team-a' },
      pod: operatorLabels,
    };
    const outside: Peer = null;
    const admitted = (peer: Peer, port: string): boolean =>
      admits(policy.spec, 'agentmeter', peer, port);
    expect([tenantPod, prometheus, operator].map((p) => admitted(p, 'otlp-http'))).toEqual([
      true,
      true,
      true,
    ]);
    expect(admitted(outside, 'otlp-http')).toBe(false);
    expect([tenantPod, prometheus, operator, outside].map((p) => admitted(p, 'metrics'))).toEqual([
      false,
      true,
      false,
      false,
    ]);
    expect(
      [tenantPod, prometheus, operator, lookalike, outside].map((p) => admitted(p, 'http')),
    ).toEqual([false, false, true, false, false]);

    const off = await render('np', 'agentmeter', undefined, {
      set: ['networkPolicy.enabled=false'],
    });
    expect(off.docs.filter((d) => d.kind === 'NetworkPolicy')).toEqual([]);
    const scoped = await render('np', 'agentmeter', undefined, {
      set: ['networkPolicy.metricsPodSelector.matchLabels.app=prometheus'],
    });
    const scopedSpec = (one(scoped.docs, 'NetworkPolicy') as Manifest & { spec: NetworkPolicySpec })
      .spec;
    expect(admits(scopedSpec, 'agentmeter', prometheus, 'metrics')).toBe(true);
    expect(
      admits(scopedSpec, 'agentmeter', { ...prometheus, pod: { app: 'grafana' } }, 'metrics'),
    ).toBe(false);
  });

  it('session-reader ClusterRole: get sessions.agentmeter.dev and nothing else', async () => {
    const { docs } = await render('sr', 'agentmeter', undefined);
    expect(one(docs, 'ClusterRole', '-session-reader')).toMatchObject({
      rules: [{ apiGroups: ['agentmeter.dev'], resources: ['sessions'], verbs: ['get'] }],
    });
    const trusted = await render('sr', 'agentmeter', undefined, {
      set: ['agent.trustedProxies={10.1.0.0/16,fd00::/64}'],
    });
    const env = (podSpec(one(trusted.docs, 'DaemonSet')).containers[0] as Container).env;
    expect(env).toContainEqual({
      name: 'AGENTMETER_TRUSTED_PROXIES',
      value: '10.1.0.0/16,fd00::/64',
    });
    const none = (podSpec(one(docs, 'DaemonSet')).containers[0] as Container).env;
    expect(none.map((e) => e.name)).not.toContain('AGENTMETER_TRUSTED_PROXIES');
  });

  it('agent.callDedupeWindow reaches the agent (30m by default); the schema refuses a non-duration', async () => {
    const envOf = (docs: Manifest[]) =>
      (podSpec(one(docs, 'DaemonSet')).containers[0] as Container).env;
    const { docs } = await render('dd', 'agentmeter', undefined);
    expect(envOf(docs)).toContainEqual({ name: 'AGENTMETER_CALL_DEDUPE_WINDOW', value: '30m' });
    const longer = await render('dd', 'agentmeter', undefined, {
      set: ['agent.callDedupeWindow=2h'],
    });
    expect(envOf(longer.docs)).toContainEqual({
      name: 'AGENTMETER_CALL_DEDUPE_WINDOW',
      value: '2h',
    });
    const res = await lint('--set', 'agent.callDedupeWindow=half an hour');
    expect(res.code).not.toBe(0);
    expect(res.stdout).toContain('agent.callDedupeWindow');
  });

  it('GPU values: PodResources mounted read-only, the RuntimeClass and nvidia-smi path set', async () => {
    const { docs } = await render('gpu', 'agentmeter', 'ci/gpu-values.yaml');
    const agent = podSpec(one(docs, 'DaemonSet'));
    expect(agent.runtimeClassName).toBe('nvidia');
    const ac = agent.containers[0] as Container;
    expect(ac.volumeMounts.find((m) => m.name === 'pod-resources')).toMatchObject({
      mountPath: '/var/lib/kubelet/pod-resources',
      readOnly: true,
    });
    const env = Object.fromEntries(ac.env.map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      AGENTMETER_GPU: 'on',
      AGENTMETER_NVIDIA_SMI: '/usr/bin/nvidia-smi',
    });

    const driver = await render('gpu', 'agentmeter', undefined, {
      set: ['agent.gpu.enabled=true'],
    });
    const dspec = podSpec(one(driver.docs, 'DaemonSet'));
    expect(dspec.runtimeClassName).toBeUndefined();
    expect(dspec.volumes.find((v) => v.name === 'nvidia-driver')?.hostPath?.path).toBe(
      '/run/nvidia/driver',
    );
  });

  it('strict security values: no capabilities at all, AppArmor, no CRDs', async () => {
    const { docs } = await render('strict', 'agentmeter', 'ci/strict-security-values.yaml');
    expect(docs.filter((d) => d.kind === 'CustomResourceDefinition')).toEqual([]);
    const agent = podSpec(one(docs, 'DaemonSet'));
    expect((agent.containers[0] as Container).securityContext.capabilities).toEqual({
      drop: ['ALL'],
      add: [],
    });
    expect(agent.securityContext).toMatchObject({ appArmorProfile: { type: 'RuntimeDefault' } });
    expect(podSpec(one(docs, 'Deployment')).securityContext).toMatchObject({
      appArmorProfile: { type: 'RuntimeDefault' },
    });
  });
});

describe('against the real apiserver', () => {
  const suffix = Math.random().toString(36).slice(2, 7);
  const ns = `helm-chart-${suffix}`;
  const releases = valuesFiles.map((file, i) => ({ file, release: `am${i}-${suffix}` }));
  const main = releases[0] as { file: undefined; release: string };
  const operatorSa = `${main.release}-agentmeter-operator`;
  const agentSa = `${main.release}-agentmeter-agent`;
  let tmp = '';

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'helm-chart-'));
    const created = await kubectl(['create', 'namespace', ns]);
    expect(created.code, created.stderr).toBe(0);
  });

  afterAll(async () => {
    // Cluster-scoped objects by release; the CRDs stay (other suites apply them too).
    const instances = releases.map((r) => r.release).join(',');
    await kubectl([
      'delete',
      'clusterrole,clusterrolebinding,priorityclass',
      '-l',
      `app.kubernetes.io/instance in (${instances})`,
      '--ignore-not-found',
    ]);
    await kubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it.each(releases.map((r) => [label(r.file), r]))(
    'server-side dry run, then a real apply: %s',
    async (_, { file, release }) => {
      const { text } = await render(release, ns, file);
      const base = [
        'apply',
        '--server-side',
        '--force-conflicts',
        '--field-manager=helm-chart-test',
      ];
      const dry = await kubectl([...base, '--dry-run=server', '-f', '-'], { input: text });
      expect(dry.code, dry.stderr).toBe(0);
      const real = await kubectl([...base, '-f', '-'], { input: text });
      expect(real.code, real.stderr).toBe(0);
      expect(real.stdout).toContain(
        `daemonset.apps/${release}-agentmeter-agent serverside-applied`,
      );
    },
  );

  it('leaves the CRDs served (the chart re-applied the manifests every suite uses)', async () => {
    await applyCrds();
  });

  /** A kubeconfig that authenticates with a fresh token of one of the chart's ServiceAccounts. */
  async function saKubeconfig(
    sa: string,
    audience?: string,
  ): Promise<{ path: string; token: string }> {
    const res = await kubectl([
      'create',
      'token',
      sa,
      '-n',
      ns,
      ...(audience ? ['--audience', audience] : []),
    ]);
    expect(res.code, res.stderr).toBe(0);
    const token = res.stdout.trim();
    const plane = controlPlane();
    const path = join(tmp, `${sa}-${(audience ?? 'api').replace(/\W/g, '_')}.kubeconfig`);
    await writeFile(
      path,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'test',
            cluster: { server: plane.server, 'certificate-authority': plane.caFile },
          },
        ],
        users: [{ name: sa, user: { token } }],
        contexts: [{ name: sa, context: { cluster: 'test', user: sa } }],
        'current-context': sa,
      }),
    );
    return { path, token };
  }

  async function canI(kubeconfig: string, args: string[]): Promise<boolean> {
    const res = await kubectl(['auth', 'can-i', ...args], { kubeconfig });
    const answer = res.stdout.trim();
    expect(['yes', 'no'], `can-i ${args.join(' ')}: ${res.stderr}`).toContain(answer);
    return answer === 'yes';
  }

  const agentAllowed = [
    // RBAC cannot narrow this to one node: see the field-selector test below.
    ['list', 'pods', '-A'],
    ['get', 'pods', '-A'],
    ['watch', 'pods', '-A'],
    ['get', 'nodes/node-a'],
    ['list', 'namespaces'],
    ['watch', 'namespaces'],
    ['list', 'costpolicies.agentmeter.dev'],
    ['watch', 'costpolicies.agentmeter.dev'],
    ['create', 'tokenreviews.authentication.k8s.io'],
    ['create', 'subjectaccessreviews.authorization.k8s.io'],
  ];
  const agentDenied = [
    ['get', 'secrets', '-A'],
    ['list', 'secrets', '-A'],
    ['get', 'secrets', '-n', ns],
    ['list', 'configmaps', '-A'],
    ['create', 'pods', '-n', ns],
    ['delete', 'pods', '-A'],
    ['patch', 'pods', '-A'],
    ['create', 'pods', '--subresource=exec', '-A'],
    ['get', 'pods', '--subresource=log', '-A'],
    ['create', 'pods', '--subresource=eviction', '-A'],
    ['list', 'nodes'],
    ['get', 'nodes', '--subresource=proxy'],
    ['patch', 'nodes'],
    ['patch', 'costpolicies.agentmeter.dev'],
    ['patch', 'costpolicies.agentmeter.dev', '--subresource=status'],
    ['create', 'costreports.agentmeter.dev'],
    ['create', 'serviceaccounts', '--subresource=token', '-A'],
    ['list', 'deployments.apps', '-A'],
  ];
  const operatorAllowed = (lease: string): string[][] => [
    ['list', 'costpolicies.agentmeter.dev'],
    ['patch', 'costpolicies.agentmeter.dev'],
    ['patch', 'costpolicies.agentmeter.dev', '--subresource=status'],
    ['update', 'costpolicies.agentmeter.dev', '--subresource=status'],
    ['create', 'costreports.agentmeter.dev'],
    ['list', 'namespaces'],
    ['create', 'events.events.k8s.io', '-n', 'team-a'],
    ['patch', 'events.events.k8s.io', '-n', 'team-a'],
    ['create', 'leases.coordination.k8s.io', '-n', ns],
    ['get', `leases.coordination.k8s.io/${lease}`, '-n', ns],
    ['update', `leases.coordination.k8s.io/${lease}`, '-n', ns],
    ['list', 'endpointslices.discovery.k8s.io', '-n', ns],
    ['patch', 'deployments.apps', '-n', 'team-a'],
    ['update', 'deployments.apps', '--subresource=scale', '-n', 'team-a'],
    ['patch', 'statefulsets.apps', '--subresource=scale', '-n', 'team-a'],
    ['patch', 'jobs.batch', '-n', 'team-a'],
    ['patch', 'cronjobs.batch', '-n', 'team-a'],
    ['create', 'tokenreviews.authentication.k8s.io'],
    ['create', 'subjectaccessreviews.authorization.k8s.io'],
  ];
  const operatorDenied = (lease: string): string[][] => [
    ['get', 'secrets', '-A'],
    ['list', 'secrets', '-A'],
    ['get', 'secrets', '-n', ns],
    ['list', 'configmaps', '-A'],
    ['list', 'pods', '-A'],
    ['create', 'pods', '-n', ns],
    ['delete', 'deployments.apps', '-n', 'team-a'],
    ['delete', 'costpolicies.agentmeter.dev'],
    ['update', 'costreports.agentmeter.dev'],
    ['get', `leases.coordination.k8s.io/${lease}`, '-n', 'default'],
    ['update', 'leases.coordination.k8s.io/someone-elses-lease', '-n', ns],
    ['list', 'endpointslices.discovery.k8s.io', '-n', 'default'],
    ['create', 'serviceaccounts', '--subresource=token', '-n', ns],
    ['create', 'events', '-n', 'team-a'],
  ];

  it('the agent ServiceAccount token can do what the agent needs and no more', async () => {
    const { path } = await saKubeconfig(agentSa);
    const whoami = await kubectl(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'], {
      kubeconfig: path,
    });
    expect(whoami.stdout).toBe(`system:serviceaccount:${ns}:${agentSa}`);
    for (const args of agentAllowed) expect(await canI(path, args), args.join(' ')).toBe(true);
    for (const args of agentDenied) expect(await canI(path, args), args.join(' ')).toBe(false);
  });

  it('RBAC ignores field selectors: the agent list of pods is cluster-wide, whatever the selector', async () => {
    // The honest limit documented in the README: kube-apiserver passes selectors to authorizers
    // (AuthorizeWithSelectors, GA in 1.34) but RBAC does not use them, so a grant that allows
    // `list pods --field-selector spec.nodeName=<own node>` allows every other list too.
    const { path } = await saKubeconfig(agentSa);
    const review = (fieldSelector?: object): object => ({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: {
        resourceAttributes: {
          verb: 'list',
          resource: 'pods',
          version: 'v1',
          ...(fieldSelector ? { fieldSelector } : {}),
        },
      },
    });
    for (const body of [
      review({ requirements: [{ key: 'spec.nodeName', operator: 'In', values: ['node-a'] }] }),
      review(),
    ]) {
      const res = await kubectl(['create', '--validate=false', '-f', '-', '-o', 'json'], {
        kubeconfig: path,
        input: JSON.stringify(body),
      });
      expect(res.code, res.stderr).toBe(0);
      expect(JSON.parse(res.stdout).status.allowed).toBe(true);
    }
  });

  it('the operator ServiceAccount token can do what the operator needs and no more', async () => {
    const { path } = await saKubeconfig(operatorSa);
    const lease = `${main.release}-agentmeter-operator`;
    for (const args of operatorAllowed(lease))
      expect(await canI(path, args), args.join(' ')).toBe(true);
    for (const args of operatorDenied(lease))
      expect(await canI(path, args), args.join(' ')).toBe(false);
  });

  it('the ledger API check: the agent verifies the operator token (audience agentmeter) and its grant', async () => {
    const agent = await saKubeconfig(agentSa);
    const ledgerToken = (await saKubeconfig(operatorSa, 'agentmeter')).token;
    const agentToken = (await saKubeconfig(agentSa, 'agentmeter')).token;
    // Explicitly an apiserver-only audience: the test apiserver also lists `agentmeter` in
    // --api-audiences, so its default tokens would carry both.
    const apiToken = (await saKubeconfig(operatorSa, controlPlane().server.replace(/:\d+$/, '')))
      .token;

    const tokenReview = async (
      token: string,
    ): Promise<{ authenticated?: boolean; user?: { username: string } }> => {
      const body = {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, audiences: ['agentmeter'] },
      };
      const res = await kubectl(['create', '--validate=false', '-f', '-', '-o', 'json'], {
        kubeconfig: agent.path,
        input: JSON.stringify(body),
      });
      expect(res.code, res.stderr).toBe(0);
      return JSON.parse(res.stdout).status;
    };
    const may = async (
      user: string,
      access: Record<string, string> = { ...LEDGER_ACCESS },
    ): Promise<boolean> => {
      const body = {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user,
          groups: [
            'system:serviceaccounts',
            `system:serviceaccounts:${ns}`,
            'system:authenticated',
          ],
          // Exactly what the agent asks before serving /v1/ledger (or a session).
          resourceAttributes: access,
        },
      };
      const res = await kubectl(['create', '--validate=false', '-f', '-', '-o', 'json'], {
        kubeconfig: agent.path,
        input: JSON.stringify(body),
      });
      expect(res.code, res.stderr).toBe(0);
      return JSON.parse(res.stdout).status.allowed === true;
    };

    const operator = await tokenReview(ledgerToken);
    expect(operator.authenticated).toBe(true);
    expect(operator.user?.username).toBe(`system:serviceaccount:${ns}:${operatorSa}`);
    expect(await may(operator.user?.username ?? '')).toBe(true);
    // The operator reads budget marks of any namespace's sessions.
    const sessions = { ...SESSION_ACCESS, namespace: 'team-a' };
    expect(await may(operator.user?.username ?? '', sessions)).toBe(true);

    // The operator's API token has the wrong audience; another agent's token lacks the grant.
    expect((await tokenReview(apiToken)).authenticated).not.toBe(true);
    const other = await tokenReview(agentToken);
    expect(other.authenticated).toBe(true);
    expect(await may(other.user?.username ?? '')).toBe(false);
    expect(await may(other.user?.username ?? '', sessions)).toBe(false);
  });
});

describe('container images (no engine here: what each image runs is checked as a plain process)', () => {
  const images = [
    { dockerfile: 'operator/Dockerfile', program: 'operator', user: '65532:65532' },
    { dockerfile: 'node-agent/Dockerfile', program: 'agent', user: '0:0' },
  ] as const;
  // What .dockerignore keeps out of the build context (besides node_modules).
  const ignored = /(\.test\.ts|\.fixture\.ts|\.md)$/;

  /** COPY instructions from the build context, of every stage. */
  function contextCopies(dockerfile: string): { sources: string[]; dest: string }[] {
    const text = readFileSync(join(repoRoot, dockerfile), 'utf8');
    return [...text.matchAll(/^COPY (?!--from)(.+)$/gm)].map((m) => {
      const parts = (m[1] as string).trim().split(/\s+/);
      return { sources: parts.slice(0, -1), dest: parts.at(-1) as string };
    });
  }

  /**
   * The final image's /app, built as a directory the way the build stage builds it: the bundle
   * from the build stage's files only (its COPY lines, minus .dockerignore), copied where the
   * final stage's `COPY --from=build` puts it. No node_modules: the bundle must stand alone.
   */
  async function stageImage(dockerfile: string, program: string): Promise<string> {
    const context = await mkdtemp(join(tmpdir(), 'image-context-'));
    const app = await mkdtemp(join(tmpdir(), 'image-'));
    try {
      for (const { sources, dest } of contextCopies(dockerfile)) {
        for (const src of sources) {
          // Docker semantics: a destination ending in '/' is a directory to copy into.
          const to = dest.endsWith('/') ? join(context, dest, basename(src)) : join(context, dest);
          await cp(join(repoRoot, src), to, {
            recursive: true,
            filter: (from) => !ignored.test(from) && !from.includes('node_modules'),
          });
        }
      }
      // `npm ci` in the build stage: the repository's locked packages, and workspace links that
      // point into this context, so a source file the Dockerfile does not copy fails the build.
      await mkdir(join(context, 'node_modules', '@agentmeter'), { recursive: true });
      for (const entry of readdirSync(join(repoRoot, 'node_modules'))) {
        if (entry === '@agentmeter' || entry === '.bin') continue;
        await symlink(join(repoRoot, 'node_modules', entry), join(context, 'node_modules', entry));
      }
      for (const ws of ['crds', 'kube-client', 'node-agent', 'operator']) {
        await symlink(`../../${ws}`, join(context, 'node_modules', '@agentmeter', ws));
      }
      const built = await run(
        process.execPath,
        ['hack/build-dist.ts', program],
        undefined,
        context,
      );
      expect(built.code, built.stderr).toBe(0);
      const from = /^COPY --from=build \/src\/(\S+) (\S+)$/m.exec(
        readFileSync(join(repoRoot, dockerfile), 'utf8'),
      );
      expect(from?.[2]).toBe('./');
      await cp(join(context, from?.[1] as string), app, { recursive: true });
      return app;
    } finally {
      await rm(context, { recursive: true, force: true });
    }
  }

  it.each(images.map((i) => [i.dockerfile, i]))(
    '%s: pinned Node 24 base, multi-stage, bundle entrypoint',
    (_, image) => {
      const text = readFileSync(join(repoRoot, image.dockerfile), 'utf8');
      expect(text).toMatch(
        /^ARG NODE_IMAGE=node:24\.\d+\.\d+-bookworm-slim(@sha256:[a-f0-9]{64})?$/m,
      );
      expect(text.match(/^FROM /gm)).toHaveLength(2);
      expect(text).toContain(`USER ${image.user}`);
      expect(text).toContain(`RUN node hack/build-dist.ts ${image.program}`);
      const { script } = nodeEntrypoint(image.dockerfile);
      expect(script).toBe('main.js');
      for (const { sources } of contextCopies(image.dockerfile)) {
        for (const src of sources) expect(existsSync(join(repoRoot, src)), src).toBe(true);
      }
    },
  );

  it.for(images)(
    'the image entrypoint with --help runs from the bundle alone and exits 0',
    async (image) => {
      const app = await stageImage(image.dockerfile, image.program);
      try {
        // Exactly what the image runs (node's own flags included), with --help appended.
        const [, ...args] = entrypoint(image.dockerfile);
        const res = await run(process.execPath, [...args, '--help'], undefined, app);
        expect(res.code, res.stderr).toBe(0);
        expect(res.stdout + res.stderr).toMatch(/usage/i);
      } finally {
        await rm(app, { recursive: true, force: true });
      }
    },
  );
});
