// The one-command demo (README "The two commands"; `bash hack/demo.sh` provisions Node first).
// Starts the local control plane, installs the CRDs and policies, runs the real node agent and
// operator against this host's cgroups, and drives demo workloads as real processes in
// kubelet-style pod cgroups: an agent runtime serving three concurrent sessions over OTLP, a
// Job-per-session batch agent and a noisy neighbour. It prints a live chargeback table; Ctrl-C,
// SIGTERM or the end of --duration removes every process, cgroup and file it made.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { COST_POLICY_GVK, divRoundHalfEven, formatMoney } from '@agentmeter/crds';
import type { CostPolicy } from '@agentmeter/crds';
import { startControlPlane, type ControlPlane } from './control-plane.ts';
import {
  CGROUP_ROOT,
  createPodCgroup,
  removePrefix,
  type TestPodCgroup,
} from '../test/support/cgroups.ts';
import { freePort } from '../test/support/agent-process.ts';
import {
  render,
  sessionCostNano,
  sumByLabel,
  type SessionView,
  type Snapshot,
} from './demo/table.ts';
import {
  pause,
  runSession,
  startBurner,
  type SessionPlan,
  type SpanStats,
} from './demo/workloads.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const NODE = hostname().toLowerCase();
const RUN = randomBytes(3).toString('hex');
/** Every cgroup the demo makes sits under this, so one removePrefix() takes them all. */
const CGROUP_PREFIX = `agentmeter-demo-${RUN}`;
const AGENT_HOST = '127.0.0.2';
const OPERATOR_HOST = '127.0.0.3';
const CURRENCY = 'USD';
const TICK = '2s';
const REFRESH_MS = 5000;
const BATCH_EVERY_MS = 20_000;
const BATCH_RUN_MS = 15_000;
/** How long --duration's verdict waits at most for the last sessions to be charged. */
const SETTLE_GUARD_MS = 180_000;

const NS = {
  agents: 'acme-agents',
  batch: 'acme-batch',
  noisy: 'noisy-neighbour',
  system: 'agentmeter',
};
/** Pod IPs on loopback: the agent identifies OTLP senders by source address. */
const IP = { runtime: '127.0.0.11', noisy: '127.0.0.12', batchBase: 20 };
const RUNTIME_SESSIONS: SessionPlan[] = [
  { id: 'chat-7f3a', model: 'claude-sonnet-4-5' },
  { id: 'chat-91bc', model: 'gpt-4o' },
  { id: 'chat-c04e', model: 'meta-llama/Llama-3.1-8B-Instruct' },
];

const USAGE = `Usage: bash hack/demo.sh [--duration SECONDS]

Runs agentmeter end to end on this machine (root, cgroup v1) and prints a live chargeback table.
  --duration SECONDS  run the workloads this long, print the final table once and exit:
                      0 when every demo session was charged a non-zero cost, else 1 (for CI)
Without --duration it runs until Ctrl-C. Either way it removes everything it made.`;

/** Deliberately high rates, so a minute of demo shows money; the samples are applied too. */
const DEMO_POLICY: CostPolicy = {
  apiVersion: 'agentmeter.dev/v1alpha1',
  kind: 'CostPolicy',
  metadata: { name: 'demo-chargeback' },
  spec: {
    priority: 500,
    selector: { namespaceSelector: { matchLabels: { 'agentmeter.dev/demo': 'true' } } },
    currency: CURRENCY,
    rates: {
      cpuCoreHour: '36',
      memoryGiBHour: '3.60',
      ioGiB: '0.50',
      networkGiB: '0.50',
      tokens: [
        { model: 'claude-sonnet-4-5', inputPerMillion: '3.00', outputPerMillion: '15.00' },
        { model: 'gpt-4o', inputPerMillion: '2.50', outputPerMillion: '10.00' },
        { model: '*', inputPerMillion: '0.20', outputPerMillion: '0.20' },
      ],
    },
    budgets: [
      {
        name: 'namespace-daily',
        amount: '5.00',
        period: 'Daily',
        scope: 'Namespace',
        thresholds: [50, 80, 100],
        action: 'Notify',
      },
      {
        name: 'session-daily',
        amount: '1.00',
        period: 'Daily',
        scope: 'Session',
        thresholds: [80, 100],
        action: 'Notify',
      },
    ],
  },
};

const log = (line: string): void => void process.stderr.write(`[demo] ${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Cleanup: everything the demo makes registers its undo here; it runs once, newest first.

const cleanups: { name: string; run: () => Promise<void> }[] = [];
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const step of cleanups.reverse()) {
      await step
        .run()
        .catch((err: unknown) => log(`cleanup of ${step.name} failed: ${String(err)}`));
    }
  })();
  return cleaning;
}

// ---------------------------------------------------------------------------------------------
// Processes: the agent and the operator, each in its own process group with a log file.

interface Managed {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  readonly exited: Promise<number | null>;
  exitCode: number | null | undefined;
}

function startProcess(name: string, args: string[], logFile: string): Managed {
  const out = createWriteStream(logFile);
  // detached: Ctrl-C in a terminal reaches only the demo, which stops them in order.
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    cwd: repoRoot,
  });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  const managed: Managed = {
    name,
    child,
    logFile,
    exitCode: undefined,
    exited: new Promise((done) =>
      child.on('exit', (code, signal) => {
        managed.exitCode = code ?? (signal === null ? null : -1);
        done(managed.exitCode);
      }),
    ),
  };
  cleanups.push({ name, run: () => stopProcess(managed) });
  return managed;
}

async function stopProcess(p: Managed): Promise<void> {
  if (p.exitCode !== undefined || p.child.pid === undefined) return;
  const pid = p.child.pid;
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-pid, sig);
    } catch {
      // The group is already gone.
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), 15_000);
  await p.exited;
  clearTimeout(timer);
}

async function logTail(p: Managed, lines = 8): Promise<string> {
  const text = await readFile(p.logFile, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** Polls `url` until it answers 200; false when the process exits or time runs out. */
async function waitHttp(p: Managed, url: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && p.exitCode === undefined) {
    const ok = await fetch(url, { signal: AbortSignal.timeout(2000) })
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) return true;
    await sleep(250);
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Cluster objects.

function kubectl(plane: ControlPlane, args: string[]): Promise<string> {
  return new Promise((done, fail) =>
    execFile(
      plane.binaries.kubectl,
      ['--kubeconfig', plane.kubeconfig, ...args],
      { maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) =>
        err ? fail(new Error(`kubectl ${args.join(' ')}: ${stderr || err.message}`)) : done(stdout),
    ),
  );
}

async function installCrdsAndPolicies(
  plane: ControlPlane,
  custom: CustomObjectsApi,
): Promise<void> {
  const manifests = join(repoRoot, 'crds', 'manifests');
  for (const file of (await readdir(manifests)).filter((f) => f.endsWith('.yaml')).sort())
    await kubectl(plane, ['apply', '--server-side', '-f', join(manifests, file)]);
  await kubectl(plane, ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
  await kubectl(plane, ['apply', '--server-side', '-f', join(repoRoot, 'crds', 'samples')]);
  const { group, version, plural } = COST_POLICY_GVK;
  await custom.createClusterCustomObject({ group, version, plural, body: DEMO_POLICY });
}

async function createNamespaces(core: CoreV1Api): Promise<void> {
  const labels: Record<string, Record<string, string>> = {
    [NS.agents]: { 'agentmeter.dev/demo': 'true', 'agentmeter.dev/tenant': 'acme' },
    [NS.batch]: { 'agentmeter.dev/demo': 'true', 'agentmeter.dev/tenant': 'acme' },
    [NS.noisy]: { 'agentmeter.dev/demo': 'true' },
    [NS.system]: {},
  };
  for (const [name, l] of Object.entries(labels))
    await core.createNamespace({ body: { metadata: { name, labels: l } } });
}

/**
 * A pod bound to this node and marked Running with `ip` as a kubelet would, so the agent's pod
 * watch sees it; the demo then plays the container runtime with a real cgroup.
 */
async function createPod(
  core: CoreV1Api,
  namespace: string,
  name: string,
  ip: string,
  meta: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): Promise<string> {
  const pod: V1Pod = await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name, ...meta },
      spec: {
        nodeName: NODE,
        restartPolicy: 'Never',
        containers: [{ name: 'main', image: 'example.invalid/agentmeter-demo:1' }],
      },
    },
  });
  await setPodPhase(core, namespace, name, 'Running', ip);
  return pod.metadata?.uid ?? '';
}

async function setPodPhase(
  core: CoreV1Api,
  namespace: string,
  name: string,
  phase: 'Running' | 'Succeeded',
  ip: string,
): Promise<void> {
  await core.patchNamespacedPodStatus(
    {
      namespace,
      name,
      body: { status: { phase, podIP: ip, podIPs: [{ ip }], hostIP: '127.0.0.1' } },
    },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

/**
 * The operator's ServiceAccount, allowed to pull ledgers, and a token for the agents' audience:
 * the same TokenReview and SubjectAccessReview path a cluster install uses. The operator's own
 * API access uses the admin kubeconfig here; the Helm chart gives it least-privilege RBAC.
 */
async function operatorLedgerToken(kc: KubeConfig, file: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const name = 'agentmeter-operator';
  await core.createNamespacedServiceAccount({ namespace: NS.system, body: { metadata: { name } } });
  await rbac.createClusterRole({
    body: {
      metadata: { name: 'agentmeter-ledger-reader' },
      rules: [{ apiGroups: ['agentmeter.dev'], resources: ['ledgers'], verbs: ['get'] }],
    },
  });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: 'agentmeter-ledger-reader' },
      roleRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: 'agentmeter-ledger-reader',
      },
      subjects: [{ kind: 'ServiceAccount', name, namespace: NS.system }],
    },
  });
  const token = await core.createNamespacedServiceAccountToken({
    name,
    namespace: NS.system,
    body: { spec: { audiences: ['agentmeter'], expirationSeconds: 24 * 3600 } },
  });
  await writeFile(file, token.status?.token ?? '', { mode: 0o600 });
}

/**
 * The agent's pod object, which the operator discovers by label and status.podIP (its
 * `--agent-selector` mode): EndpointSlices, the chart's way, refuse loopback addresses.
 */
async function publishAgent(core: CoreV1Api): Promise<void> {
  await createPod(core, NS.system, `agentmeter-agent-${RUN}`, AGENT_HOST, {
    labels: { 'app.kubernetes.io/name': 'agentmeter-agent' },
  });
}

// ---------------------------------------------------------------------------------------------
// Workloads.

interface Workloads {
  readonly stop: AbortController;
  readonly spanStats: Map<string, SpanStats>;
  readonly batchSessions: string[];
  readonly sessionLoops: Promise<void>[];
}

async function podCgroup(uid: string): Promise<TestPodCgroup> {
  return createPodCgroup({ uid, prefix: CGROUP_PREFIX });
}

async function startWorkloads(core: CoreV1Api, otlp: URL): Promise<Workloads> {
  const stop = new AbortController();
  const spanStats = new Map<string, SpanStats>();
  const batchSessions: string[] = [];

  const runtimeUid = await createPod(core, NS.agents, 'agent-runtime-0', IP.runtime, {
    labels: { 'app.kubernetes.io/component': 'agent-runtime' },
  });
  startBurner(await podCgroup(runtimeUid), 0.3);
  const sessionLoops = RUNTIME_SESSIONS.map((plan) => {
    const stats: SpanStats = { sent: 0, rejected: 0, failed: 0 };
    spanStats.set(plan.id, stats);
    return runSession(otlp, IP.runtime, plan, stats, stop.signal);
  });

  const noisyUid = await createPod(core, NS.noisy, 'noisy-neighbour-0', IP.noisy);
  startBurner(await podCgroup(noisyUid), 0.5);

  // Job-per-session: each run is its own pod whose annotation gives it wholly to one session.
  let n = 0;
  const runJob = async (): Promise<void> => {
    n++;
    const id = `batch-run-${n}`;
    const name = `nightly-eval-${n}`;
    const ip = `127.0.0.${IP.batchBase + n}`;
    batchSessions.push(id);
    const uid = await createPod(core, NS.batch, name, ip, {
      labels: { 'job-name': 'nightly-eval' },
      annotations: { 'agentmeter.dev/session-id': id },
    });
    const group = await podCgroup(uid);
    startBurner(group, 0.2);
    // Stopped early, the demo's cleanup (removePrefix) takes the cgroup and its processes.
    if (!(await pause(BATCH_RUN_MS, stop.signal))) return;
    // As a kubelet finishes a Job pod: processes gone, phase Succeeded, then the cgroup removed.
    for (const pid of await group.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await setPodPhase(core, NS.batch, name, 'Succeeded', ip);
    if (await pause(3000, stop.signal)) await group.remove();
  };
  const jobs = (async () => {
    const running: Promise<void>[] = [];
    do running.push(runJob().catch((err: unknown) => log(`batch job failed: ${String(err)}`)));
    while (await pause(BATCH_EVERY_MS, stop.signal));
    await Promise.all(running);
  })();
  return { stop, spanStats, batchSessions, sessionLoops: [...sessionLoops, jobs] };
}

// ---------------------------------------------------------------------------------------------
// The table.

interface AgentEndpoints {
  readonly url: string;
  readonly metricsUrl: string;
  /** Bearer token for the session API. */
  readonly token: string;
}

async function snapshot(
  agent: AgentEndpoints,
  custom: CustomObjectsApi,
  operator: Managed | undefined,
  workloads: Workloads,
  startedAt: number,
  urls: [string, string][],
): Promise<Snapshot> {
  const metrics = await fetch(`${agent.metricsUrl}/metrics`)
    .then((r) => r.text())
    .catch(() => '');
  const cpu = sumByLabel(metrics, 'agentmeter_namespace_cpu_usage_seconds_total', 'namespace');
  const cost = sumByLabel(metrics, 'agentmeter_namespace_cost_total', 'namespace');
  const unattributed = sumByLabel(metrics, 'agentmeter_namespace_cost_total', 'namespace', {
    attribution: 'unattributed',
  });
  const demoNamespaces = [NS.agents, NS.batch, NS.noisy];
  const sessions = [
    ...RUNTIME_SESSIONS.map((s) => ({ namespace: NS.agents, id: s.id })),
    ...workloads.batchSessions.map((id) => ({ namespace: NS.batch, id })),
  ];
  const views = await Promise.all(
    sessions.map(async (s) => {
      const res = await fetch(`${agent.url}/v1/sessions/${s.namespace}/${s.id}`, {
        headers: { authorization: `Bearer ${agent.token}` },
      }).catch(() => undefined);
      return res?.ok ? { ...s, view: (await res.json()) as SessionView } : s;
    }),
  );
  const notes: string[] = [];
  for (const [id, stats] of workloads.spanStats)
    if (stats.rejected + stats.failed > 0)
      notes.push(
        `session ${id}: ${stats.rejected} span exports rejected, ${stats.failed} failed (last: ${stats.lastError ?? ''})`,
      );
  let policy: CostPolicy | undefined;
  let operatorNote: string | undefined;
  if (operator === undefined || operator.exitCode !== undefined) {
    operatorNote =
      operator === undefined
        ? 'the operator did not start; budget usage is unavailable (agent-side chargeback below is complete)'
        : `the operator exited with ${String(operator.exitCode)}; budget usage is stale or unavailable`;
  } else {
    const { group, version, plural } = COST_POLICY_GVK;
    policy = (await custom
      .getClusterCustomObject({ group, version, plural, name: DEMO_POLICY.metadata.name ?? '' })
      .catch(() => undefined)) as CostPolicy | undefined;
    if (policy?.status?.lastCollectionTime === undefined)
      operatorNote = 'the operator has not collected ledgers yet; budget usage shows "not yet"';
  }
  return {
    elapsedS: Math.round((Date.now() - startedAt) / 1000),
    currency: CURRENCY,
    namespaces: demoNamespaces.map((namespace) => ({
      namespace,
      cpuSeconds: cpu.get(namespace) ?? 0,
      cost: cost.get(namespace) ?? 0,
      unattributed: unattributed.get(namespace) ?? 0,
    })),
    sessions: views,
    ...(policy === undefined ? {} : { policy }),
    ...(operatorNote === undefined ? {} : { operatorNote }),
    notes,
    urls,
  };
}

/** The CI verdict: which demo sessions are still at zero cost. */
function zeroCostSessions(s: Snapshot): string[] {
  return s.sessions
    .filter(({ view }) => {
      if (view === undefined) return true;
      const c = sessionCostNano(view, CURRENCY);
      return c.infra + c.tokens === 0n;
    })
    .map(({ namespace, id }) => `${namespace}/${id}`);
}

// ---------------------------------------------------------------------------------------------

async function preflight(): Promise<void> {
  try {
    await access(join(CGROUP_ROOT, 'cpuacct', 'cgroup.procs'), constants.W_OK);
  } catch {
    throw new Error(
      `the demo creates pod cgroups under ${CGROUP_ROOT}/<controller>: it needs root and the cgroup v1 cpuacct controller (${CGROUP_ROOT}/cpuacct)`,
    );
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { duration: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const durationS = values.duration === undefined ? undefined : Number(values.duration);
  if (durationS !== undefined && (!Number.isInteger(durationS) || durationS < 10))
    throw new Error(`--duration: expected whole seconds, at least 10, got ${values.duration}`);
  await preflight();

  const dir = await mkdtemp(join(tmpdir(), `agentmeter-demo-${RUN}-`));
  cleanups.push({ name: 'temporary files', run: () => rm(dir, { recursive: true, force: true }) });
  process.stdout.write(`cgroup prefix: ${CGROUP_PREFIX}\n`);

  log(
    'starting the control plane (the first run builds kube-apiserver and etcd; later runs reuse them)',
  );
  const plane = await startControlPlane({ log: (line) => log(`control plane: ${line}`) });
  cleanups.push({ name: 'control plane', run: () => plane.stop() });
  const kc = new KubeConfig();
  kc.loadFromFile(plane.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);

  log('installing the CRDs, the sample CostPolicies and the demo policy');
  await installCrdsAndPolicies(plane, custom);
  await createNamespaces(core);

  const stateDir = join(dir, 'agent-state');
  await mkdir(stateDir);
  const agentPort = await freePort(AGENT_HOST);
  const otlpPort = await freePort(AGENT_HOST);
  const metricsPort = await freePort(AGENT_HOST);
  const healthPort = await freePort(AGENT_HOST);
  log(`starting the node agent for node ${NODE} (cgroups under ${CGROUP_ROOT})`);
  const agent = startProcess(
    'node agent',
    [
      'node-agent/src/main.ts',
      `--node-name=${NODE}`,
      `--kubeconfig=${plane.kubeconfig}`,
      `--state-dir=${stateDir}`,
      `--tick=${TICK}`,
      `--listen=${AGENT_HOST}:${agentPort}`,
      `--otlp-listen=${AGENT_HOST}:${otlpPort}`,
      `--metrics-listen=${AGENT_HOST}:${metricsPort}`,
      `--health-listen=${AGENT_HOST}:${healthPort}`,
      '--gpu=off',
    ],
    join(dir, 'agent.log'),
  );
  const agentUrl = `http://${AGENT_HOST}:${agentPort}`;
  // The demo reads sessions as the cluster admin, whom a SubjectAccessReview allows everywhere.
  const endpoints: AgentEndpoints = {
    url: agentUrl,
    metricsUrl: `http://${AGENT_HOST}:${metricsPort}`,
    token: plane.admin.token,
  };
  if (!(await waitHttp(agent, `http://${AGENT_HOST}:${healthPort}/readyz`, 60_000)))
    throw new Error(`the node agent did not become ready:\n${await logTail(agent, 20)}`);

  const tokenFile = join(dir, 'ledger-token');
  await operatorLedgerToken(kc, tokenFile);
  await publishAgent(core);
  const operatorPort = await freePort(OPERATOR_HOST);
  log('starting the operator');
  let operator: Managed | undefined = startProcess(
    'operator',
    [
      'operator/src/main.ts',
      `--kubeconfig=${plane.kubeconfig}`,
      `--listen=${OPERATOR_HOST}:${operatorPort}`,
      // One replica: no Lease to wait for.
      '--leader-election=false',
      `--namespace=${NS.system}`,
      '--identity=agentmeter-demo',
      '--agent-selector=app.kubernetes.io/name=agentmeter-agent',
      `--agent-port=${agentPort}`,
      `--ledger-token-file=${tokenFile}`,
      '--interval=5s',
      // The embedded store, in the demo's own directory (removed with it).
      `--store-path=${join(dir, 'store.db')}`,
    ],
    join(dir, 'operator.log'),
  );
  const operatorUrl = `http://${OPERATOR_HOST}:${operatorPort}`;
  if (!(await waitHttp(operator, `${operatorUrl}/healthz`, 30_000))) {
    process.stderr.write(
      `WARNING: the operator failed to start; continuing with the agent-side chargeback only. ` +
        `Its last log lines:\n${await logTail(operator)}\n`,
    );
    await stopProcess(operator);
    operator = undefined;
  }

  log(`starting the workloads in cgroups under ${CGROUP_PREFIX}`);
  // Registered before the first cgroup exists, so a failure half-way still removes them all.
  const workloadsRef: { current?: Workloads } = {};
  cleanups.push({
    name: 'workloads and cgroups',
    run: async () => {
      workloadsRef.current?.stop.abort();
      await Promise.all(workloadsRef.current?.sessionLoops ?? []);
      await removePrefix(CGROUP_PREFIX);
    },
  });
  const workloads = await startWorkloads(core, new URL(`http://${AGENT_HOST}:${otlpPort}`));
  workloadsRef.current = workloads;
  const startedAt = Date.now();
  const urls: [string, string][] = [
    ['agent metrics', `${endpoints.metricsUrl}/metrics`],
    ['agent sessions', `${agentUrl}/v1/sessions/{namespace}/{id}`],
    [
      'operator metrics',
      operator === undefined ? '(operator not running)' : `${operatorUrl}/metrics`,
    ],
    ['KUBECONFIG', plane.kubeconfig],
  ];
  const tty = process.stdout.isTTY === true;

  let stopSignal: NodeJS.Signals | undefined;
  const stopped = new Promise<void>((done) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const)
      // `on`, not `once`: a second Ctrl-C must not kill the demo half-way through its cleanup.
      process.on(sig, () => {
        if (stopSignal === undefined) log(`${sig}: stopping`);
        stopSignal ??= sig;
        done();
      });
    if (durationS !== undefined) setTimeout(done, durationS * 1000).unref();
  });
  let waiting = true;
  void stopped.then(() => (waiting = false));
  while (waiting) {
    await Promise.race([sleep(REFRESH_MS), stopped]);
    if (!waiting) break;
    if (agent.exitCode !== undefined)
      throw new Error(
        `the node agent exited with ${String(agent.exitCode)}:\n${await logTail(agent, 20)}`,
      );
    const snap = await snapshot(endpoints, custom, operator, workloads, startedAt, urls);
    if (durationS === undefined) {
      process.stdout.write(`${tty ? '\x1b[2J\x1b[H' : '\n'}${render(snap)}\n`);
      if (tty) process.stdout.write('\nCtrl-C stops the demo and removes everything it made.\n');
    } else {
      const charged = snap.sessions.length - zeroCostSessions(snap).length;
      log(`${snap.elapsedS}s: ${charged} of ${snap.sessions.length} sessions charged so far`);
    }
  }

  workloads.stop.abort();
  if (durationS === undefined) {
    process.stdout.write(
      `\n${render(await snapshot(endpoints, custom, operator, workloads, startedAt, urls))}\n`,
    );
    return 0;
  }
  if (stopSignal !== undefined) {
    process.stdout.write(`RESULT: FAIL: interrupted by ${stopSignal} before --duration ended\n`);
    return 1;
  }
  // No new work starts now, but the last batch job may have only just begun and the spans of the
  // last calls wait out the watermark: on a busy machine that takes a while, so the verdict waits
  // until every session is charged, with a deadline only as a guard against a hang.
  const settleBy = Date.now() + SETTLE_GUARD_MS;
  let final = await snapshot(endpoints, custom, operator, workloads, startedAt, urls);
  while (zeroCostSessions(final).length > 0 && Date.now() < settleBy) {
    if (agent.exitCode !== undefined) break;
    await sleep(2000);
    final = await snapshot(endpoints, custom, operator, workloads, startedAt, urls);
  }
  process.stdout.write(`\n${render(final)}\n\n`);
  const zero = zeroCostSessions(final);
  if (zero.length > 0) {
    process.stdout.write(
      `RESULT: FAIL: ${zero.length} of ${final.sessions.length} sessions have no cost: ${zero.join(', ')}\n`,
    );
    if (agent.exitCode === undefined)
      process.stdout.write(`agent log tail:\n${await logTail(agent)}\n`);
    return 1;
  }
  const total = final.sessions.reduce((sum, s) => {
    const c = s.view === undefined ? { infra: 0n, tokens: 0n } : sessionCostNano(s.view, CURRENCY);
    return sum + c.infra + c.tokens;
  }, 0n);
  const shown = formatMoney(divRoundHalfEven(total, 100_000n) * 100_000n, { minFractionDigits: 4 });
  process.stdout.write(
    `RESULT: OK: ${final.sessions.length} sessions with non-zero cost, ${shown} ${CURRENCY} in total\n`,
  );
  return 0;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  process.stderr.write(`[demo] FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
} finally {
  log('removing every process, cgroup and file the demo made');
  await cleanup();
}
process.exit(code);
