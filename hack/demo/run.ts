// The demo on a real node with the chart installed: the demo policy and namespaces, the
// workloads as real pods, the live chargeback table, and the verdict. The total it reports is
// the demo policy's spend as the operator wrote it into the CostPolicy status, checked against
// the agent's ledger up to the operator's cursor, to the nano-unit.
import { divRoundHalfEven, formatMoney, parseMoney } from '@agentmeter/crds';
import type { CostPolicy } from '@agentmeter/crds';
import type { RealNodeInfo } from '../real-node.ts';
import type { ChartRelease } from '../real-node/chart.ts';
import { pullLedger } from '../lib/ledger-api.ts';
import { runChecked } from '../lib/processes.ts';
import { cursorSeq, ledgerSpendNano, spendPolicy } from './spend.ts';
import { render, sessionCostNano, sumByLabel, type SessionView, type Snapshot } from './table.ts';
import {
  agentRuntimePod,
  batchJob,
  driveSession,
  noisyNeighbour,
  pause,
  type SessionPlan,
  type SessionStats,
} from './workloads.ts';

const CURRENCY = 'USD';
const POLICY = 'demo-chargeback';
/** The Policy-scoped budget whose status is the policy's whole spend. */
const TOTAL_BUDGET = 'total';
const NS = { agents: 'acme-agents', batch: 'acme-batch', noisy: 'noisy-neighbour' };
const RUNTIME_SESSIONS: SessionPlan[] = [
  { id: 'chat-7f3a', model: 'claude-sonnet-4-5' },
  { id: 'chat-91bc', model: 'gpt-4o' },
  { id: 'chat-c04e', model: 'meta-llama/Llama-3.1-8B-Instruct' },
];
const REFRESH_MS = 5000;
const BATCH_EVERY_MS = 20_000;
/** Guards against a hang only: on a busy machine settling takes minutes, not seconds. */
const SETTLE_GUARD_MS = 300_000;
/** The chart's agent.port and agent.metricsPort, operator.port. */
const AGENT_PORT = 9464;
const AGENT_METRICS_PORT = 9465;
const OPERATOR_PORT = 8080;

/** Deliberately high rates, so a minute of demo shows money. */
const DEMO_POLICY: CostPolicy = {
  apiVersion: 'agentmeter.dev/v1alpha1',
  kind: 'CostPolicy',
  metadata: { name: POLICY },
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
      { name: TOTAL_BUDGET, amount: '1000.00', period: 'Monthly', action: 'Notify' },
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

export interface DemoOptions {
  readonly node: RealNodeInfo;
  readonly chart: ChartRelease;
  /** Run the workloads this long; undefined: until `stopped` resolves. */
  readonly durationS?: number;
  /** Resolves with the signal that asks the demo to stop early. */
  readonly stopped: Promise<NodeJS.Signals>;
  readonly log: (line: string) => void;
  readonly out: (text: string) => void;
}

interface PodJson {
  metadata: { name: string; uid: string };
  spec: { serviceAccountName?: string };
  status: { phase?: string; podIP?: string };
}

interface Access {
  readonly agentUrl: string;
  readonly agentMetricsUrl: string;
  /** May get sessions.agentmeter.dev in the demo namespaces (the chart's session-reader role). */
  readonly sessionToken: string;
  /** The operator's ServiceAccount, for the ledger pull. */
  readonly ledgerToken: string;
}

function kubeOf(node: RealNodeInfo) {
  const kubectl = (args: readonly string[], input?: string): Promise<string> =>
    runChecked(node.binaries.kubectl, ['--kubeconfig', node.kubeconfig, ...args], {
      input,
      timeoutMs: 200_000,
    });
  return {
    kubectl,
    json: async <T>(args: readonly string[]): Promise<T> =>
      JSON.parse(await kubectl([...args, '-o', 'json'])) as T,
    apply: (objects: readonly object[]): Promise<string> =>
      kubectl(['apply', '-f', '-'], objects.map((o) => JSON.stringify(o)).join('\n')),
  };
}
type Kube = ReturnType<typeof kubeOf>;

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function podIn(kube: Kube, namespace: string, selector: string): Promise<PodJson> {
  const pods = await kube.json<{ items: PodJson[] }>([
    'get',
    'pods',
    '-n',
    namespace,
    '-l',
    selector,
  ]);
  const pod = pods.items.find((p) => p.status.phase === 'Running' && p.status.podIP);
  if (!pod) throw new Error(`no running pod ${selector} in ${namespace}`);
  return pod;
}

/** Namespaces, the policy, and who may read what: RBAC as a platform team would grant it. */
async function prepare(kube: Kube, chart: ChartRelease): Promise<Access> {
  const demoLabels = { 'agentmeter.dev/demo': 'true' };
  const tenant = { ...demoLabels, 'agentmeter.dev/tenant': 'acme' };
  await kube.apply([
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS.agents, labels: tenant } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS.batch, labels: tenant } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS.noisy, labels: demoLabels } },
    DEMO_POLICY,
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'demo-reader', namespace: chart.namespace },
    },
    ...[NS.agents, NS.batch].map((namespace) => ({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'demo-session-reader', namespace },
      roleRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: `${chart.release}-session-reader`,
      },
      subjects: [{ kind: 'ServiceAccount', name: 'demo-reader', namespace: chart.namespace }],
    })),
  ]);
  for (const ns of Object.values(NS)) {
    await until(`ServiceAccount default in ${ns}`, 60_000, async () => {
      await kube.kubectl(['get', 'serviceaccount', 'default', '-n', ns]);
      return true;
    });
  }
  const agent = await podIn(kube, chart.namespace, 'app.kubernetes.io/component=agent');
  const operator = await podIn(kube, chart.namespace, 'app.kubernetes.io/component=operator');
  const token = async (account: string): Promise<string> =>
    (
      await kube.kubectl([
        'create',
        'token',
        account,
        '-n',
        chart.namespace,
        '--audience',
        'agentmeter',
        '--duration',
        '24h',
      ])
    ).trim();
  return {
    agentUrl: `http://${agent.status.podIP}:${AGENT_PORT}`,
    agentMetricsUrl: `http://${agent.status.podIP}:${AGENT_METRICS_PORT}`,
    sessionToken: await token('demo-reader'),
    ledgerToken: await token(operator.spec.serviceAccountName ?? 'default'),
  };
}

interface Workloads {
  readonly stop: AbortController;
  readonly stats: Map<string, SessionStats>;
  readonly batchSessions: string[];
  readonly loops: Promise<void>[];
}

async function startWorkloads(
  kube: Kube,
  node: RealNodeInfo,
  chart: ChartRelease,
  log: (line: string) => void,
): Promise<Workloads> {
  const busybox = node.images.busybox ?? 'agentmeter.local/busybox:dev';
  const services = await kube.json<{
    items: { metadata: { name: string }; spec: { internalTrafficPolicy?: string } }[];
  }>(['get', 'services', '-n', chart.namespace]);
  const otlp = services.items.find((s) => s.spec.internalTrafficPolicy === 'Local');
  if (!otlp) throw new Error('the chart made no node-local OTLP Service');
  const endpoint = `http://${otlp.metadata.name}.${chart.namespace}.svc.${node.clusterDomain}:4318`;
  await kube.apply([
    agentRuntimePod(
      NS.agents,
      node.images['agent-app'] ?? 'agentmeter.local/agent-app:dev',
      endpoint,
    ),
    noisyNeighbour(NS.noisy, busybox),
  ]);
  log(`agent runtime exports spans to ${endpoint}`);
  let runtimeUrl = '';
  await until('the agent runtime pod to answer', 180_000, async () => {
    const pod = await podIn(kube, NS.agents, 'app.kubernetes.io/component=agent-runtime');
    runtimeUrl = `http://${pod.status.podIP}:8080`;
    return (await fetch(`${runtimeUrl}/healthz`, { signal: AbortSignal.timeout(2000) })).ok;
  });

  const stop = new AbortController();
  const stats = new Map<string, SessionStats>();
  const loops = RUNTIME_SESSIONS.map((plan) => {
    const s: SessionStats = { runs: 0, failed: 0 };
    stats.set(plan.id, s);
    return driveSession(runtimeUrl, plan, s, stop.signal);
  });
  const batchSessions: string[] = [];
  const jobs = (async () => {
    let n = 0;
    do {
      n++;
      const id = `batch-run-${n}`;
      await kube
        .apply([batchJob(NS.batch, busybox, n, id)])
        .then(() => batchSessions.push(id))
        .catch((err: unknown) => log(`batch job ${n} not created: ${String(err)}`));
    } while (await pause(BATCH_EVERY_MS, stop.signal));
  })();
  return { stop, stats, batchSessions, loops: [...loops, jobs] };
}

/** No new work: the loops end, the noisy neighbour goes, the Jobs already started finish. */
async function stopWorkloads(kube: Kube, w: Workloads, log: (line: string) => void) {
  w.stop.abort();
  await Promise.all(w.loops);
  await kube.kubectl(['delete', 'deployment', 'noisy-neighbour', '-n', NS.noisy, '--wait=false']);
  log('waiting for the batch Jobs that started to complete');
  await kube.kubectl([
    'wait',
    '--for=condition=complete',
    'job',
    '--all',
    '-n',
    NS.batch,
    '--timeout=180s',
  ]);
}

/** The agent's view of one session; a 429 is waited out once, as its Retry-After asks. */
async function sessionView(
  access: Access,
  namespace: string,
  id: string,
): Promise<{ view?: SessionView; refused?: string }> {
  const url = `${access.agentUrl}/v1/sessions/${namespace}/${id}`;
  const headers = { authorization: `Bearer ${access.sessionToken}` };
  let res = await fetch(url, { headers }).catch((err: unknown) => err as Error);
  if (!(res instanceof Error) && res.status === 429) {
    const waitS = Math.min(Number(res.headers.get('retry-after') ?? '1') || 1, 10);
    await new Promise((r) => setTimeout(r, waitS * 1000));
    res = await fetch(url, { headers }).catch((err: unknown) => err as Error);
  }
  if (res instanceof Error) return { refused: `unreachable: ${res.message}` };
  if (res.ok) return { view: (await res.json()) as SessionView };
  if (res.status === 404) return {};
  return { refused: `HTTP ${res.status}: ${(await res.text()).slice(0, 80)}` };
}

async function snapshot(
  kube: Kube,
  access: Access,
  w: Workloads,
  startedAt: number,
  urls: [string, string][],
): Promise<Snapshot> {
  const metrics = await fetch(`${access.agentMetricsUrl}/metrics`)
    .then((r) => r.text())
    .catch(() => '');
  const cpu = sumByLabel(metrics, 'agentmeter_namespace_cpu_usage_seconds_total', 'namespace');
  const cost = sumByLabel(metrics, 'agentmeter_namespace_cost_total', 'namespace');
  const unattributed = sumByLabel(metrics, 'agentmeter_namespace_cost_total', 'namespace', {
    attribution: 'unattributed',
  });
  const sessions = [
    ...RUNTIME_SESSIONS.map((s) => ({ namespace: NS.agents, id: s.id })),
    ...w.batchSessions.map((id) => ({ namespace: NS.batch, id })),
  ];
  const views = await Promise.all(
    sessions.map(async (s) => ({ ...s, ...(await sessionView(access, s.namespace, s.id)) })),
  );
  const notes: string[] = [];
  for (const [id, s] of w.stats)
    if (s.failed > 0)
      notes.push(`session ${id}: ${s.failed} runs failed (last: ${s.lastError ?? ''})`);
  const policy = await kube.json<CostPolicy>(['get', 'costpolicy', POLICY]).catch(() => undefined);
  return {
    elapsedS: Math.round((Date.now() - startedAt) / 1000),
    currency: CURRENCY,
    namespaces: Object.values(NS).map((namespace) => ({
      namespace,
      cpuSeconds: cpu.get(namespace) ?? 0,
      cost: cost.get(namespace) ?? 0,
      unattributed: unattributed.get(namespace) ?? 0,
    })),
    sessions: views,
    ...(policy === undefined ? {} : { policy }),
    ...(policy?.status?.lastCollectionTime === undefined
      ? { operatorNote: 'the operator has not collected ledgers yet; budget usage shows "not yet"' }
      : {}),
    notes,
    urls,
  };
}

function zeroCostSessions(s: Snapshot): string[] {
  return s.sessions
    .filter(({ view }) => {
      if (view === undefined) return true;
      const c = sessionCostNano(view, CURRENCY);
      return c.infra + c.calls === 0n;
    })
    .map(({ namespace, id }) => `${namespace}/${id}`);
}

const money4 = (nano: bigint): string =>
  formatMoney(divRoundHalfEven(nano, 100_000n) * 100_000n, { minFractionDigits: 4 });

/**
 * The operator's view and the ledger's, at one cursor: waits until the operator has collected
 * past every entry written by the time the work ended and the agent settled it.
 */
async function totalSpend(
  kube: Kube,
  access: Access,
  node: RealNodeInfo,
  log: (line: string) => void,
): Promise<{ statusNano: bigint; ledgerNano: bigint; seq: bigint }> {
  const endNs = BigInt(Date.now()) * 1_000_000n;
  const ledger = { url: access.agentUrl, token: access.ledgerToken };
  let target = 0n;
  await until(
    'the agent to settle a tick that began after the work ended',
    SETTLE_GUARD_MS,
    async () => {
      const entries = await pullLedger(ledger);
      target = BigInt(entries.at(-1)?.seq ?? '0');
      return entries.some((e) => e.kind === 'node-usage' && BigInt(e.time.start) > endNs);
    },
  );
  log(`ledger settled at seq ${target}; waiting for the operator to collect it`);
  let policy: CostPolicy | undefined;
  await until('the operator to collect the settled ledger', SETTLE_GUARD_MS, async () => {
    policy = await kube.json<CostPolicy>(['get', 'costpolicy', POLICY]);
    return (cursorSeq(policy.status?.collection?.cursors, node.nodeName) ?? 0n) >= target;
  });
  if (policy === undefined) throw new Error(`CostPolicy ${POLICY} vanished`);
  const seq = cursorSeq(policy.status?.collection?.cursors, node.nodeName) ?? 0n;
  const spent = policy.status?.budgets?.find((b) => b.name === TOTAL_BUDGET)?.spent ?? '0';
  return {
    statusNano: parseMoney(spent),
    ledgerNano: ledgerSpendNano(await pullLedger(ledger), spendPolicy(policy), seq),
    seq,
  };
}

export async function runDemo(options: DemoOptions): Promise<number> {
  const { node, chart, log, out } = options;
  const kube = kubeOf(node);
  log(`applying the demo namespaces, CostPolicy ${POLICY} and session-reader RBAC`);
  const access = await prepare(kube, chart);
  log(
    'starting the workloads as pods: agent runtime (OTel SDK), Job per batch session, noisy neighbour',
  );
  const workloads = await startWorkloads(kube, node, chart, log);
  const startedAt = Date.now();
  const operator = await podIn(kube, chart.namespace, 'app.kubernetes.io/component=operator');
  const urls: [string, string][] = [
    ['agent metrics', `${access.agentMetricsUrl}/metrics`],
    ['agent sessions', `${access.agentUrl}/v1/sessions/{namespace}/{id}`],
    ['operator metrics', `http://${operator.status.podIP}:${OPERATOR_PORT}/metrics`],
    ['KUBECONFIG', node.kubeconfig],
  ];
  const tty = process.stdout.isTTY === true;

  let signal: NodeJS.Signals | undefined;
  const ended = Promise.race([
    options.stopped.then((s) => void (signal = s)),
    ...(options.durationS === undefined
      ? []
      : [new Promise<void>((r) => setTimeout(r, (options.durationS ?? 0) * 1000).unref())]),
  ]);
  let running = true;
  void ended.then(() => (running = false));
  while (running) {
    await Promise.race([new Promise((r) => setTimeout(r, REFRESH_MS)), ended]);
    if (!running) break;
    const snap = await snapshot(kube, access, workloads, startedAt, urls);
    if (options.durationS === undefined) {
      out(`${tty ? '\x1b[2J\x1b[H' : '\n'}${render(snap)}\n`);
      if (tty) out('\nCtrl-C stops the workloads and prints the settled total.\n');
    } else {
      const charged = snap.sessions.length - zeroCostSessions(snap).length;
      log(`${snap.elapsedS}s: ${charged} of ${snap.sessions.length} sessions charged so far`);
    }
  }
  if (signal !== undefined && options.durationS !== undefined) {
    out(`RESULT: FAIL: interrupted by ${signal} before --duration ended\n`);
    return 1;
  }

  log('stopping the workloads');
  await stopWorkloads(kube, workloads, log);
  // Spans of the last runs wait out the agent's watermark and ticks settle two ticks late.
  const settleBy = Date.now() + SETTLE_GUARD_MS;
  let final = await snapshot(kube, access, workloads, startedAt, urls);
  while (zeroCostSessions(final).length > 0 && Date.now() < settleBy) {
    await new Promise((r) => setTimeout(r, 2000));
    final = await snapshot(kube, access, workloads, startedAt, urls);
  }
  const total = await totalSpend(kube, access, node, log);
  final = await snapshot(kube, access, workloads, startedAt, urls);
  out(`\n${render(final)}\n\n`);

  const sessionsNano = final.sessions.reduce((sum, s) => {
    const c = s.view === undefined ? { infra: 0n, calls: 0n } : sessionCostNano(s.view, CURRENCY);
    return sum + c.infra + c.calls;
  }, 0n);
  out(
    `Total spend under ${POLICY} (every demo pod, sessions and unattributed, and every token):\n` +
      `  operator, CostPolicy status budget "${TOTAL_BUDGET}":  ${formatMoney(total.statusNano)} ${CURRENCY}\n` +
      `  agent ledger, the policy's entries to seq ${total.seq}:  ${formatMoney(total.ledgerNano)} ${CURRENCY}\n` +
      `  of which the sessions above (as charged so far): ${money4(sessionsNano)} ${CURRENCY}\n\n`,
  );
  const zero = zeroCostSessions(final);
  if (zero.length > 0) {
    out(
      `RESULT: FAIL: ${zero.length} of ${final.sessions.length} sessions have no cost: ${zero.join(', ')}\n`,
    );
    return 1;
  }
  if (total.statusNano !== total.ledgerNano || total.statusNano === 0n) {
    out(
      `RESULT: FAIL: the operator reports ${formatMoney(total.statusNano)} ${CURRENCY} but the ledger sums to ${formatMoney(total.ledgerNano)} ${CURRENCY} at seq ${total.seq}\n`,
    );
    return 1;
  }
  out(
    `RESULT: OK: ${final.sessions.length} sessions charged; total spend ${formatMoney(total.statusNano)} ${CURRENCY} (${money4(total.statusNano)}), operator status = ledger sum to the nano-unit\n`,
  );
  return 0;
}
