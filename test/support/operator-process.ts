// Runs the real operator as the image ships it (the bundle, under the image's node flags and
// environment, in the bundle directory) with its metrics server on its own loopback port, and
// collects its JSON log lines.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CoreV1Api, DiscoveryV1Api } from '@kubernetes/client-node';
import { parseMoney } from '@agentmeter/crds';
import type { CostPolicy, LedgerEntry } from '@agentmeter/crds';
import { decodeCursors } from '../../operator/src/budgets/cursors.ts';
import { freePort, metricValue } from './agent-process.ts';
import { collectLines } from './child-logs.ts';
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

export function agentHostName(node: string): string {
  return `${node}.agents.test`;
}

export class OperatorProcess {
  readonly url: string;
  readonly identity: string;
  readonly child: ChildProcess;
  readonly logs: string[] = [];
  readonly exited: Promise<number | null>;

  private constructor(url: string, identity: string, child: ChildProcess) {
    this.url = url;
    this.identity = identity;
    this.child = child;
    collectLines(child, this.logs);
    this.exited = new Promise((done) => child.on('exit', (code) => done(code)));
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

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
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

  async stop(): Promise<number | null> {
    if (this.running) this.child.kill('SIGTERM');
    return this.exited;
  }

  async kill9(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
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

  jsonLogs(): Record<string, unknown>[] {
    return this.logs.flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }
}

// ---- cluster fixtures shared by the operator suites ----------------------------------------

/** What the operator suites need of a control plane (the shared one or a dedicated one). */
export interface PlaneAccess {
  readonly server: string;
  readonly caFile: string;
  /** Admin kubeconfig. */
  readonly kubeconfig: string;
  readonly kubectl: string;
  readonly adminToken: string;
}

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
export async function applyOperatorRbac(
  plane: PlaneAccess,
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
    plane.kubectl,
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
export async function writeTokenFiles(
  dir: string,
  plane: PlaneAccess,
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
 * Publishes an agent as the endpoint controller would for the chart's headless Service, under
 * its FQDN (see AGENT_DNS).
 */
export async function publishAgent(
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

export async function unpublishAgent(
  discovery: DiscoveryV1Api,
  namespace: string,
  service: string,
  node: string,
): Promise<void> {
  await discovery.deleteNamespacedEndpointSlice({ namespace, name: `${service}-${node}` });
}

/** What a policy's budgets should hold, summed straight from ledger entries. */
export interface LedgerSums {
  total: bigint;
  byNamespace: Map<string, bigint>;
  bySession: Map<string, bigint>;
  sessionsByNamespace: Map<string, Set<string>>;
}

/** Sums the cost of the entries priced by `policy`, for each node only up to `upTo[node]`. */
export function ledgerSums(
  ledgers: ReadonlyMap<string, readonly LedgerEntry[]>,
  policy: string,
  upTo: ReadonlyMap<string, bigint>,
): LedgerSums {
  const sums: LedgerSums = {
    total: 0n,
    byNamespace: new Map(),
    bySession: new Map(),
    sessionsByNamespace: new Map(),
  };
  const add = (m: Map<string, bigint>, k: string, v: bigint): void => {
    m.set(k, (m.get(k) ?? 0n) + v);
  };
  for (const [node, entries] of ledgers) {
    const limit = upTo.get(node) ?? 0n;
    for (const e of entries) {
      if (BigInt(e.seq) > limit) break;
      if (e.kind !== 'pod-usage' || e.cost === null || e.cost.policy.name !== policy) continue;
      const nano = BigInt(e.cost.totalNano);
      sums.total += nano;
      add(sums.byNamespace, e.pod.namespace, nano);
      for (const s of e.cost.bySession ?? []) {
        if (s.session === null) continue;
        const key = `${s.session.namespace}/${s.session.id}`;
        add(sums.bySession, key, BigInt(s.totalNano));
        const set = sums.sessionsByNamespace.get(e.pod.namespace) ?? new Set<string>();
        set.add(key);
        sums.sessionsByNamespace.set(e.pod.namespace, set);
      }
    }
  }
  return sums;
}

/** Polls `check` until it returns something other than undefined/false. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A status money string in nano-units; absent (nothing spent yet) is zero. */
export function moneyNano(money: string | undefined): bigint {
  return parseMoney(money ?? '0');
}

/** The collection cursors a CostPolicy's status records: the last seq counted, by node. */
export function policyCursors(p: CostPolicy): Map<string, bigint> {
  return new Map(decodeCursors(p.status?.collection?.cursors).map((c) => [c.node, c.seq]));
}
