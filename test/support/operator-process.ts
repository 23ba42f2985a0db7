// Runs the real operator as the image ships it (the bundle, under the image's node flags and
// environment, in the bundle directory) with its metrics server on its own loopback port, and
// collects its JSON log lines; and the chart's install of it on a control plane.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CoreV1Api, DiscoveryV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import type { ControlPlaneInfo } from '../../hack/control-plane.ts';
import { freePort, metricValue } from './agent-process.ts';
import { LoggedChild } from './child-logs.ts';
import { shipped } from './shipped.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface OperatorOptions {
  readonly kubeconfig: string;
  readonly namespace: string;
  readonly identity: string;
  readonly ledgerTokenFile: string;
  /** EndpointSlice discovery: the agents' Service and port. */
  readonly agentService: string;
  readonly agentPort: number;
  /** The store's flags (test/support/store-engine.ts); every replica of a suite shares one. */
  readonly store: readonly string[];
  readonly leaseName?: string;
  readonly interval?: string;
  readonly clockFile?: string;
  readonly host?: string;
  readonly extraArgs?: readonly string[];
  /** Host name → loopback IP, resolved inside the operator process (see AGENT_DNS). */
  readonly hosts?: Readonly<Record<string, string>>;
}

/**
 * The apiserver refuses loopback IPs in EndpointSlices, so tests publish each agent under an
 * FQDN (`<node>.agents.test`) and this preload resolves those names to the agent's loopback
 * address inside the operator process only: cluster DNS, in miniature. Production code is
 * untouched; the operator follows FQDN slices as it would in a cluster.
 */
const AGENT_DNS = `
import dns from 'node:dns';
const hosts = JSON.parse(process.env.AGENTMETER_TEST_HOSTS ?? '{}');
const lookup = dns.lookup;
dns.lookup = function (host, options, callback) {
  const ip = hosts[host];
  if (ip === undefined) return lookup.call(this, host, options, callback);
  const cb = typeof options === 'function' ? options : callback;
  const all = typeof options === 'object' && options !== null && options.all;
  process.nextTick(() => (all ? cb(null, [{ address: ip, family: 4 }]) : cb(null, ip, 4)));
};
`;

function agentHostName(node: string): string {
  return `${node}.agents.test`;
}

export class OperatorProcess extends LoggedChild {
  readonly url: string;
  readonly identity: string;

  private constructor(url: string, identity: string, child: ChildProcess) {
    super(child);
    this.url = url;
    this.identity = identity;
  }

  static async start(o: OperatorOptions): Promise<OperatorProcess> {
    const host = o.host ?? '127.0.0.1';
    const port = await freePort(host);
    const image = shipped('operator');
    const args = [
      ...image.flags,
      `--import=data:text/javascript,${encodeURIComponent(AGENT_DNS)}`,
      image.script,
      `--kubeconfig=${o.kubeconfig}`,
      `--namespace=${o.namespace}`,
      `--identity=${o.identity}`,
      `--listen=${host}:${port}`,
      `--ledger-token-file=${o.ledgerTokenFile}`,
      `--agent-service=${o.agentService}`,
      `--agent-port=${o.agentPort}`,
      `--interval=${o.interval ?? '1s'}`,
      // Short Lease timings so failover tests take seconds, not the production 15 s.
      '--lease-duration=3s',
      '--renew-deadline=2s',
      '--retry-period=400ms',
      ...o.store,
      ...(o.leaseName ? [`--lease-name=${o.leaseName}`] : []),
      ...(o.clockFile ? [`--clock-file=${o.clockFile}`] : []),
      ...(o.extraArgs ?? []),
    ];
    const child = spawn(process.execPath, args, {
      cwd: image.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        ...image.env,
        AGENTMETER_TEST_HOSTS: JSON.stringify(o.hosts ?? {}),
      },
    });
    return new OperatorProcess(`http://${host}:${port}`, o.identity, child);
  }

  /** Polls /healthz until it answers; fails early if the process exits. */
  async waitStarted(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running)
        throw new Error(`operator exited before start:\n${this.logs.slice(-20).join('\n')}`);
      const ok = await fetch(`${this.url}/healthz`)
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) return;
      if (Date.now() > deadline)
        throw new Error(
          `operator not up after ${timeoutMs} ms:\n${this.logs.slice(-20).join('\n')}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async metrics(): Promise<string> {
    return (await fetch(`${this.url}/metrics`)).text();
  }

  async metric(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
    return metricValue(await this.metrics(), name, labels);
  }

  async readyz(): Promise<number> {
    return fetch(`${this.url}/readyz`)
      .then((r) => r.status)
      .catch(() => 0);
  }
}

// ---- cluster fixtures shared by the operator suites ----------------------------------------

function exec(
  bin: string,
  args: readonly string[],
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = execFile(
      bin,
      [...args],
      { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => done({ code: err ? 1 : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/**
 * Renders the chart and applies only the operator's ServiceAccount and RBAC (what the chart
 * ships, nothing added), so the operator runs with exactly the rights a user installs.
 * Returns the ServiceAccount name, Lease name and agent Service name the chart uses.
 */
async function applyOperatorRbac(
  plane: ControlPlaneInfo,
  release: string,
  namespace: string,
): Promise<{ serviceAccount: string; leaseName: string; agentService: string }> {
  const helm = (await exec('bash', ['hack/ensure-helm.sh'])).stdout.trim().split('\n').at(-1);
  if (!helm) throw new Error('hack/ensure-helm.sh printed no helm path');
  const rendered = await exec(helm, [
    'template',
    release,
    'charts/agentmeter',
    '--namespace',
    namespace,
    '--kube-version',
    '1.34.0',
  ]);
  if (rendered.code !== 0) throw new Error(`helm template: ${rendered.stderr}`);
  const docs = rendered.stdout
    .split(/^---$/m)
    .filter((d) =>
      /^# Source: agentmeter\/templates\/operator\/(rbac|serviceaccount)\.yaml$/m.test(d),
    );
  if (docs.length < 5) throw new Error(`expected the operator's SA and RBAC, got ${docs.length}`);
  const applied = await exec(
    plane.binaries.kubectl,
    ['--kubeconfig', plane.kubeconfig, 'apply', '-f', '-'],
    docs.join('\n---\n'),
  );
  if (applied.code !== 0) throw new Error(`kubectl apply operator RBAC: ${applied.stderr}`);
  const name = `${release}-agentmeter-operator`;
  return {
    serviceAccount: name,
    leaseName: name,
    agentService: `${release}-agentmeter-agent`,
  };
}

/** A TokenRequest token (audience agentmeter) of a ServiceAccount. */
export async function serviceAccountToken(
  core: CoreV1Api,
  namespace: string,
  name: string,
): Promise<string> {
  const res = await core.createNamespacedServiceAccountToken({
    namespace,
    name,
    body: { spec: { audiences: ['agentmeter'], expirationSeconds: 3600 } },
  });
  const token = res.status?.token;
  if (!token) throw new Error(`no token for ServiceAccount ${namespace}/${name}`);
  return token;
}

/** Writes a kubeconfig that authenticates with `token`, and the token file itself. */
async function writeTokenFiles(
  dir: string,
  plane: ControlPlaneInfo,
  token: string,
): Promise<{ kubeconfig: string; tokenFile: string }> {
  const kubeconfig = join(dir, 'operator.kubeconfig');
  const tokenFile = join(dir, 'operator.token');
  await writeFile(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: test',
      '  cluster:',
      `    server: ${plane.server}`,
      `    certificate-authority: ${plane.caFile}`,
      'users:',
      '- name: operator',
      '  user:',
      `    token: ${token}`,
      'contexts:',
      '- name: operator',
      '  context: {cluster: test, user: operator}',
      'current-context: operator',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  await writeFile(tokenFile, token, { mode: 0o600 });
  return { kubeconfig, tokenFile };
}

/**
 * The operator as the chart installs it on a control plane: its namespace, the chart's
 * ServiceAccount and RBAC, and that ServiceAccount's kubeconfig and ledger token file. Replicas
 * started from it collect from agents published the way the chart's headless Service would be.
 */
export class InstalledOperator {
  readonly namespace: string;
  readonly release: string;
  readonly chart: Awaited<ReturnType<typeof applyOperatorRbac>>;
  readonly files: Awaited<ReturnType<typeof writeTokenFiles>>;

  private constructor(
    namespace: string,
    release: string,
    chart: InstalledOperator['chart'],
    files: InstalledOperator['files'],
  ) {
    this.namespace = namespace;
    this.release = release;
    this.chart = chart;
    this.files = files;
  }

  /** Creates `namespace`, applies the chart's operator RBAC there and writes the files into `dir`. */
  static async install(
    core: CoreV1Api,
    plane: ControlPlaneInfo,
    release: string,
    namespace: string,
    dir: string,
  ): Promise<InstalledOperator> {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    const chart = await applyOperatorRbac(plane, release, namespace);
    const token = await serviceAccountToken(core, namespace, chart.serviceAccount);
    const files = await writeTokenFiles(dir, plane, token);
    return new InstalledOperator(namespace, release, chart, files);
  }

  publish(discovery: DiscoveryV1Api, node: string, port: number): Promise<void> {
    return publishAgent(discovery, this.namespace, this.chart.agentService, node, port);
  }

  unpublish(discovery: DiscoveryV1Api, node: string): Promise<void> {
    return unpublishAgent(discovery, this.namespace, this.chart.agentService, node);
  }

  /** Starts a replica that collects from agents on `agentPort` of `agents` (node name → IP). */
  startReplica(o: {
    readonly identity: string;
    readonly agentPort: number;
    readonly agents: Readonly<Record<string, string>>;
    /** The store's flags (test/support/store-engine.ts); every replica of a suite shares one. */
    readonly store: readonly string[];
    readonly clockFile?: string | undefined;
  }): Promise<OperatorProcess> {
    return OperatorProcess.start({
      kubeconfig: this.files.kubeconfig,
      namespace: this.namespace,
      identity: o.identity,
      ledgerTokenFile: this.files.tokenFile,
      agentService: this.chart.agentService,
      agentPort: o.agentPort,
      store: o.store,
      leaseName: this.chart.leaseName,
      hosts: Object.fromEntries(Object.entries(o.agents).map(([n, ip]) => [agentHostName(n), ip])),
      ...(o.clockFile === undefined ? {} : { clockFile: o.clockFile }),
    });
  }

  /** Removes the cluster-scoped RBAC (the namespaced objects go with the namespace). */
  async removeClusterRbac(rbac: RbacAuthorizationV1Api): Promise<void> {
    const name = `${this.release}-agentmeter-operator`;
    await rbac.deleteClusterRoleBinding({ name }).catch(() => undefined);
    await rbac.deleteClusterRole({ name }).catch(() => undefined);
  }
}

/**
 * Publishes an agent as the endpoint controller would for the chart's headless Service, under
 * its FQDN (see AGENT_DNS).
 */
async function publishAgent(
  discovery: DiscoveryV1Api,
  namespace: string,
  service: string,
  node: string,
  port: number,
): Promise<void> {
  await discovery.createNamespacedEndpointSlice({
    namespace,
    body: {
      metadata: { name: `${service}-${node}`, labels: { 'kubernetes.io/service-name': service } },
      addressType: 'FQDN',
      endpoints: [
        { addresses: [agentHostName(node)], nodeName: node, conditions: { ready: true } },
      ],
      ports: [{ name: 'http', port, protocol: 'TCP' }],
    },
  });
}

async function unpublishAgent(
  discovery: DiscoveryV1Api,
  namespace: string,
  service: string,
  node: string,
): Promise<void> {
  await discovery.deleteNamespacedEndpointSlice({ namespace, name: `${service}-${node}` });
}
