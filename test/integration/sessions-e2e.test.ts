// Issue 5 end to end: the real agent process, the real apiserver and real cgroups. One shared
// pod burns CPU while three sessions report overlapping OTLP spans (JSON and protobuf) from the
// pod's own address; the ledger's split, its prices, its calls (issue 16: cache reads, a count
// sent as a double, a retried export counted once) and the session API are checked against an
// expectation computed here from the spans sent, without the agent's split or pricing code.
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import {
  COST_POLICY_GVK,
  conservationViolation,
  parseMoney,
  type LedgerEntry,
  type PodUsageEntry,
  type CallsEntry,
  type SessionRef,
  type WireUsage,
} from '@agentmeter/crds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCostPolicy } from '../support/cost-policy.ts';
import {
  decodeExportResponseProtobuf,
  encodeExportRequest,
} from '../../node-agent/src/otlp/index.ts';
import { AgentProcess } from '../support/agent-process.ts';
import {
  createPodCgroup,
  removePrefix,
  testCgroupPrefix,
  type TestPodCgroup,
  writeControl,
} from '../support/cgroups.ts';
import { adminKubeConfig, controlPlane } from '../support/kube.ts';
import { startPlaneAgent } from '../support/plane-agent.ts';
import { largestRemainder, roundHalfEven } from '../support/reference-apportion.ts';
import { waitFor } from '../support/wait.ts';

const RUN = randomBytes(3).toString('hex');
const NODE = `sessions-node-${RUN}`;
const PREFIX = testCgroupPrefix('sess');
const NAMESPACE = `sessions-${RUN}`;
const POLICY = `sessions-e2e-${RUN}`;
const AGENT_HOST = '127.0.0.60';
const SHARED_IP = '127.0.0.61';
const OTHER_IP = '127.0.0.62';
/** No pod has it. */
const STRANGER_IP = '127.0.0.69';
const MS = 1_000_000n;

// Rates in nano-units, written out independently of the policy's decimal strings below.
const CPU_CORE_HOUR_NANO = 36_000_000_000n; // '36'
const MEM_GIB_HOUR_NANO = 4_200_000n; // '0.0042'
const CPU_NS_PER_CORE_HOUR = 3_600n * 1_000_000_000n;
const MEM_BYTE_SECONDS_PER_GIB_HOUR = 3_600n * (1n << 30n);
const TOKEN_RATES: Record<string, { input: bigint; output: bigint; cacheRead: bigint }> = {
  // '3.00', '15.00', cache reads '0.30'
  'claude-sonnet-4-5': { input: 3_000_000_000n, output: 15_000_000_000n, cacheRead: 300_000_000n },
  // '0.0125', '0.1875', cache reads at the input rate (none given)
  'llama-3.1-8b': { input: 12_500_000n, output: 187_500_000n, cacheRead: 12_500_000n },
};

// ---- OTLP payloads -------------------------------------------------------------------------

interface SentSpan {
  readonly session: string;
  readonly start: bigint;
  readonly end: bigint;
  readonly model?: string;
  readonly input?: bigint;
  readonly output?: bigint;
  /** Of `input`, read from the provider's cache. */
  readonly cacheRead?: bigint;
  /** Sends the input count as a double (`1234.0`), as some SDKs do. */
  readonly inputAsDouble?: boolean;
  /** gen_ai.agent.name: the policy's span-attribute allocation tag. */
  readonly agent?: string;
}

let idCounter = 0;
function hexId(width: number): string {
  idCounter++;
  return (RUN + idCounter.toString(16).padStart(8, '0')).padStart(width, 'a');
}

function attr(key: string, value: string | bigint | number): { key: string; value: object } {
  if (typeof value === 'number') return { key, value: { doubleValue: value } };
  return typeof value === 'string'
    ? { key, value: { stringValue: value } }
    : { key, value: { intValue: value.toString() } };
}

function exportRequest(spans: readonly SentSpan[], podUidClaim?: string): object {
  const resource = [attr('service.name', 'agent-runtime')];
  if (podUidClaim !== undefined) resource.push(attr('k8s.pod.uid', podUidClaim));
  return {
    resourceSpans: [
      {
        resource: { attributes: resource },
        scopeSpans: [
          {
            scope: { name: 'sessions-e2e' },
            spans: spans.map((s) => ({
              traceId: hexId(32),
              spanId: hexId(16),
              name: 'chat',
              kind: 2,
              startTimeUnixNano: s.start.toString(),
              endTimeUnixNano: s.end.toString(),
              attributes: [
                attr('session.id', s.session),
                ...(s.agent === undefined ? [] : [attr('gen_ai.agent.name', s.agent)]),
                ...(s.model === undefined
                  ? []
                  : [
                      attr('gen_ai.operation.name', 'chat'),
                      attr('gen_ai.request.model', s.model),
                      attr(
                        'gen_ai.usage.input_tokens',
                        s.inputAsDouble === true ? Number(s.input ?? 0n) : (s.input ?? 0n),
                      ),
                      attr('gen_ai.usage.output_tokens', s.output ?? 0n),
                      ...(s.cacheRead === undefined
                        ? []
                        : [attr('gen_ai.usage.cache_read.input_tokens', s.cacheRead)]),
                    ]),
              ],
            })),
          },
        ],
      },
    ],
  };
}

/** POSTs one export request from `localAddress`; returns the partial success's rejected count. */
function postSpans(
  url: string,
  encoding: 'json' | 'protobuf',
  payload: object,
  localAddress: string,
): Promise<bigint> {
  const body =
    encoding === 'json'
      ? Buffer.from(JSON.stringify(payload))
      : Buffer.from(encodeExportRequest(payload));
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/v1/traces`,
      {
        method: 'POST',
        localAddress,
        headers: {
          'content-type': encoding === 'json' ? 'application/json' : 'application/x-protobuf',
          'content-length': String(body.length),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const raw = Buffer.concat(chunks);
          if (res.statusCode !== 200) {
            reject(new Error(`POST /v1/traces: ${res.statusCode} ${raw.toString()}`));
            return;
          }
          if (encoding === 'protobuf') {
            resolve(decodeExportResponseProtobuf(raw)?.rejectedSpans ?? 0n);
            return;
          }
          const json = JSON.parse(raw.toString()) as {
            partialSuccess?: { rejectedSpans?: string };
          };
          resolve(BigInt(json.partialSuccess?.rejectedSpans ?? '0'));
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

// ---- The expected split, from the spans sent ------------------------------------------------

interface Interval {
  start: bigint;
  end: bigint;
}

function unionClipped(intervals: readonly Interval[], t0: bigint, t1: bigint): Interval[] {
  const clipped = intervals
    .map((i) => ({ start: i.start > t0 ? i.start : t0, end: i.end < t1 ? i.end : t1 }))
    .filter((i) => i.end > i.start)
    .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: Interval[] = [];
  for (const i of clipped) {
    const last = out[out.length - 1];
    if (last !== undefined && i.start <= last.end) last.end = i.end > last.end ? i.end : last.end;
    else out.push({ ...i });
  }
  return out;
}

/**
 * Processor sharing over the window: every instant with k active sessions gives 1/k to each.
 * Weights are scaled by 6 (lcm of 1, 2, 3: at most three sessions) to stay integers.
 */
function expectedWeights(
  activity: ReadonlyMap<string, readonly Interval[]>,
  t0: bigint,
  t1: bigint,
): { weights: Map<string, bigint>; busy: bigint } {
  const perSession = new Map<string, Interval[]>();
  for (const [key, intervals] of activity) {
    const u = unionClipped(intervals, t0, t1);
    if (u.length > 0) perSession.set(key, u);
  }
  const cuts = new Set<bigint>([t0, t1]);
  for (const u of perSession.values()) for (const i of u) cuts.add(i.start).add(i.end);
  const points = [...cuts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const weights = new Map<string, bigint>();
  let busy = 0n;
  for (let p = 0; p + 1 < points.length; p++) {
    const a = points[p] as bigint;
    const b = points[p + 1] as bigint;
    const active = [...perSession]
      .filter(([, u]) => u.some((i) => i.start <= a && i.end >= b))
      .map(([key]) => key);
    if (active.length === 0) continue;
    expect(active.length).toBeLessThanOrEqual(3);
    busy += b - a;
    for (const key of active)
      weights.set(key, (weights.get(key) ?? 0n) + ((b - a) * 6n) / BigInt(active.length));
  }
  return { weights, busy };
}

function sessionKey(session: SessionRef | null): string {
  return session === null ? '' : `${session.namespace}/${session.id}`;
}

/** Exact cost × (common denominator) of a usage, and its per-resource half-even total. */
function exactCost(usage: WireUsage): { numerator: bigint; denominator: bigint } {
  const cpu = BigInt(usage.cpuNs) * CPU_CORE_HOUR_NANO;
  const mem = BigInt(usage.memoryByteSeconds) * MEM_GIB_HOUR_NANO;
  return {
    numerator: cpu * MEM_BYTE_SECONDS_PER_GIB_HOUR + mem * CPU_NS_PER_CORE_HOUR,
    denominator: CPU_NS_PER_CORE_HOUR * MEM_BYTE_SECONDS_PER_GIB_HOUR,
  };
}

function expectedEntryTotal(usage: WireUsage): bigint {
  return (
    roundHalfEven(BigInt(usage.cpuNs) * CPU_CORE_HOUR_NANO, CPU_NS_PER_CORE_HOUR) +
    roundHalfEven(
      BigInt(usage.memoryByteSeconds) * MEM_GIB_HOUR_NANO,
      MEM_BYTE_SECONDS_PER_GIB_HOUR,
    )
  );
}

/** One call's cost: cache reads out of the input at their own rate, rounded once per call. */
function expectedCallNano(model: string, input: bigint, output: bigint, cacheRead: bigint): bigint {
  const rate = TOKEN_RATES[model];
  if (rate === undefined) throw new Error(`no rate for ${model}`);
  const uncached = (input > cacheRead ? input : cacheRead) - cacheRead;
  return roundHalfEven(
    uncached * rate.input + cacheRead * rate.cacheRead + output * rate.output,
    1_000_000n,
  );
}

// ---- The suite ------------------------------------------------------------------------------

describe('sessions end to end: shared pod split, tokens, spoofing, exclusive pod, session API', () => {
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  const custom = adminKubeConfig().makeApiClient(CustomObjectsApi);
  const groups: TestPodCgroup[] = [];
  const uids = new Map<string, string>();
  const sent: SentSpan[] = [];
  let stateDir: string;
  let agent: AgentProcess;
  let entries: LedgerEntry[];
  let spansEndNs = 0n;
  const rejected = { spoofedFromOtherPod: 0n, strangerNoClaim: 0n, strangerUnknownUid: 0n };
  const key = (id: string): string => `${NAMESPACE}/${id}`;

  async function createPod(
    name: string,
    ip: string | null,
    annotations: Record<string, string> = {},
    labels: Record<string, string> = {},
  ): Promise<void> {
    const pod = await core.createNamespacedPod({
      namespace: NAMESPACE,
      body: {
        metadata: { name, annotations, labels },
        spec: { nodeName: NODE, containers: [{ name: 'main', image: 'example.invalid/app:1' }] },
      },
    });
    uids.set(name, pod.metadata?.uid ?? '');
    await core.patchNamespacedPodStatus(
      {
        name,
        namespace: NAMESPACE,
        body: {
          status: { phase: 'Running', ...(ip === null ? {} : { podIP: ip, podIPs: [{ ip }] }) },
        },
      },
      // client-node sends json-patch for every PATCH unless told otherwise.
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'agentmeter-sessions-'));
    await core.createNamespace({
      body: {
        metadata: {
          name: NAMESPACE,
          labels: { 'agentmeter.dev/test-run': RUN, 'example.com/team': 'red' },
        },
      },
    });
    await createCostPolicy(custom, POLICY, {
      // Highest priority: other suites' policies on the shared apiserver never win here.
      priority: 1000,
      selector: { namespaceSelector: { matchLabels: { 'agentmeter.dev/test-run': RUN } } },
      currency: 'USD',
      rates: {
        cpuCoreHour: '36',
        memoryGiBHour: '0.0042',
        tokens: [
          {
            model: 'claude-sonnet-4-5',
            inputPerMillion: '3.00',
            outputPerMillion: '15.00',
            cacheReadPerMillion: '0.30',
          },
          { model: 'llama-3.1-8b', inputPerMillion: '0.0125', outputPerMillion: '0.1875' },
        ],
      },
      allocation: {
        tags: [
          { name: 'team', namespaceLabel: 'example.com/team' },
          { name: 'cost-center', podLabel: 'example.com/cost-center' },
          { name: 'agent', spanAttribute: 'gen_ai.agent.name' },
        ],
      },
    });
    await createPod('shared', SHARED_IP, {}, { 'example.com/cost-center': 'cc-7' });
    await createPod('other', OTHER_IP);
    await createPod('exclusive', null, { 'agentmeter.dev/session-id': 'batch-42' });

    agent = await startPlaneAgent({
      nodeName: NODE,
      stateDir,
      host: AGENT_HOST,
      tick: '1s',
    });

    for (const name of ['shared', 'exclusive']) {
      const cgroup = await createPodCgroup({ uid: uids.get(name) ?? '', prefix: PREFIX });
      // Half a core each: enough usage to split, without starving suites running alongside.
      await writeControl(cgroup, 'cpu', 'cpu.cfs_quota_us', '50000');
      cgroup.run('sh', ['-c', 'while :; do :; done']);
      groups.push(cgroup);
    }

    // Spans only after the shared pod's entries are priced: the split is checked on every tick.
    await waitFor('priced entries of the shared pod', async () =>
      (await agent.ledger()).some(
        (e) => e.kind === 'pod-usage' && e.pod.uid === uids.get('shared') && e.priced,
      ),
    );

    // Overlapping sessions over ~4 ticks, at odd offsets so weights and remainders are not round.
    const t = BigInt(Date.now()) * MS + 300n * MS;
    const at = (ms: number, extra = 0n): bigint => t + BigInt(ms) * MS + extra;
    const alpha: SentSpan[] = [
      {
        session: 'alpha',
        agent: 'planner',
        start: at(0),
        end: at(2600, 123_457n),
        model: 'claude-sonnet-4-5',
        input: 1234n,
        output: 567n,
        cacheRead: 1000n,
      },
      {
        session: 'alpha',
        agent: 'critic',
        start: at(3000, 7n),
        end: at(3400),
        model: 'claude-sonnet-4-5',
        input: 89n,
        output: 10n,
      },
      // Nested inside the first: the union counts it once.
      { session: 'alpha', start: at(200), end: at(900, 3n) },
    ];
    const beta: SentSpan[] = [
      {
        session: 'beta',
        agent: 'coder',
        start: at(800, 999n),
        end: at(1900),
        model: 'llama-3.1-8b',
        input: 333n,
        output: 77n,
        inputAsDouble: true,
      },
      {
        session: 'beta',
        agent: 'coder',
        start: at(1850),
        end: at(2250, 11n),
        model: 'llama-3.1-8b',
        input: 1n,
        output: 3n,
      },
    ];
    const gamma: SentSpan[] = [
      {
        session: 'gamma',
        start: at(1500, 31n),
        end: at(3200, 5n),
        model: 'claude-sonnet-4-5',
        input: 50n,
        output: 5n,
      },
      {
        session: 'gamma',
        start: at(2100),
        end: at(2300),
        model: 'llama-3.1-8b',
        input: 401n,
        output: 99n,
      },
    ];
    spansEndNs = at(3400);
    const shared = uids.get('shared') ?? '';
    // JSON with and without the (agreeing) pod claim, and protobuf. Alpha's export is retried,
    // as an exporter does when it did not see the answer: its calls count once.
    const alphaRequest = exportRequest(alpha);
    expect(await postSpans(agent.otlpUrl, 'json', alphaRequest, SHARED_IP)).toBe(0n);
    expect(await postSpans(agent.otlpUrl, 'protobuf', alphaRequest, SHARED_IP)).toBe(0n);
    expect(await postSpans(agent.otlpUrl, 'json', exportRequest(beta, shared), SHARED_IP)).toBe(0n);
    expect(await postSpans(agent.otlpUrl, 'protobuf', exportRequest(gamma), SHARED_IP)).toBe(0n);
    sent.push(...alpha, ...beta, ...gamma);

    // Spoofing: another pod's address claiming the shared pod, and an address no pod has.
    const spoof: SentSpan[] = [
      {
        session: 'spoof',
        start: at(0),
        end: at(3400),
        model: 'claude-sonnet-4-5',
        input: 999_999n,
        output: 999_999n,
      },
      { session: 'spoof', start: at(500), end: at(1500) },
    ];
    rejected.spoofedFromOtherPod = await postSpans(
      agent.otlpUrl,
      'protobuf',
      exportRequest(spoof, shared),
      OTHER_IP,
    );
    const stranger = spoof.map((s) => ({ ...s, session: 'stranger' }));
    rejected.strangerNoClaim = await postSpans(
      agent.otlpUrl,
      'json',
      exportRequest(stranger),
      STRANGER_IP,
    );
    rejected.strangerUnknownUid = await postSpans(
      agent.otlpUrl,
      'json',
      exportRequest(stranger, '00000000-0000-4000-8000-000000000000'),
      STRANGER_IP,
    );

    // Every tick covering the spans is settled once an entry starts after them.
    await waitFor('the ticks covering the spans to settle', async () => {
      entries = await agent.ledger();
      return entries.some(
        (e) =>
          e.kind === 'pod-usage' &&
          e.pod.uid === shared &&
          BigInt(e.time.start) > spansEndNs + 500n * MS,
      );
    });
  });

  afterAll(async () => {
    await agent?.kill9();
    for (const group of groups) await group.remove();
    await removePrefix(PREFIX);
    for (const name of uids.keys()) {
      await core
        .deleteNamespacedPod({ name, namespace: NAMESPACE, gracePeriodSeconds: 0 })
        .catch(() => undefined);
    }
    await core.deleteNamespace({ name: NAMESPACE }).catch(() => undefined);
    const { group, version, plural } = COST_POLICY_GVK;
    await custom
      .deleteClusterCustomObject({ group, version, plural, name: POLICY })
      .catch(() => undefined);
    if (stateDir !== undefined) await rm(stateDir, { recursive: true, force: true });
  });

  const podEntries = (name: string): PodUsageEntry[] =>
    entries.filter(
      (e): e is PodUsageEntry => e.kind === 'pod-usage' && e.pod.uid === uids.get(name),
    );
  const callEntries = (): CallsEntry[] =>
    entries.filter((e): e is CallsEntry => e.kind === 'calls' && e.pod.namespace === NAMESPACE);

  it('splits the shared pod exactly as the algorithm prescribes, per resource, and conserves it', () => {
    const activity = new Map<string, Interval[]>();
    for (const s of sent) {
      const list = activity.get(key(s.session)) ?? [];
      list.push({ start: s.start, end: s.end });
      activity.set(key(s.session), list);
    }
    const mine = podEntries('shared');
    let withSessions = 0;
    let multiSession = 0;
    for (const entry of mine) {
      expect(conservationViolation(entry)).toBeNull();
      const t0 = BigInt(entry.time.start);
      const t1 = BigInt(entry.time.end);
      if (t1 <= t0) continue;
      const { weights, busy } = expectedWeights(activity, t0, t1);
      const sessions = [...weights.keys()].sort();
      // Shares: sessions with activity in the window in key order, then unattributed.
      expect(entry.shares.map((s) => sessionKey(s.session))).toEqual([...sessions, '']);
      if (sessions.length > 0) withSessions++;
      if (sessions.length > 1) multiSession++;
      for (const [resource, value] of Object.entries(entry.usage) as [keyof WireUsage, string][]) {
        const total = BigInt(value);
        // The idle part of the tick stays unattributed.
        const pool = (total * busy) / (t1 - t0);
        const split = largestRemainder(pool, weights);
        let sum = 0n;
        for (const share of entry.shares) {
          const raw = share.usage[resource];
          expect(raw).toBeDefined();
          const got = BigInt(raw ?? '0');
          sum += got;
          if (share.session !== null) expect(got).toBe(split.get(sessionKey(share.session)));
          else expect(got).toBe(total - pool);
        }
        expect(sum).toBe(total);
      }
    }
    expect(withSessions).toBeGreaterThanOrEqual(3);
    expect(multiSession).toBeGreaterThanOrEqual(2);
    // The burner's CPU was there to split.
    const cpu = mine.flatMap((e) => e.shares.filter((s) => s.session !== null));
    expect(cpu.some((s) => BigInt(s.usage.cpuNs) > 10_000_000n)).toBe(true);
  });

  it('prices every entry per resource, half-even, and splits the cost by exact share cost', () => {
    for (const entry of [...podEntries('shared'), ...podEntries('exclusive')]) {
      if (!entry.priced) continue;
      const cost = entry.cost;
      expect(cost).not.toBeNull();
      if (cost === null) continue;
      expect(cost.policy.name).toBe(POLICY);
      expect(cost.currency).toBe('USD');
      const totalNano = expectedEntryTotal(entry.usage);
      expect(BigInt(cost.totalNano)).toBe(totalNano);
      // Largest remainder of the rounded total by each share's exact cost; ties to unattributed.
      const exact = new Map(
        entry.shares.map((s) => [sessionKey(s.session), exactCost(s.usage).numerator]),
      );
      const expected = largestRemainder(totalNano, exact);
      expect(cost.bySession.map((s) => sessionKey(s.session))).toEqual(
        entry.shares.map((s) => sessionKey(s.session)),
      );
      for (const s of cost.bySession)
        expect(BigInt(s.totalNano)).toBe(expected.get(sessionKey(s.session)));
      expect(cost.bySession.reduce((sum, s) => sum + BigInt(s.totalNano), 0n)).toBe(
        BigInt(cost.totalNano),
      );
    }
    const sessionCost = (id: string): bigint =>
      podEntries('shared').reduce(
        (sum, e) =>
          sum +
          (e.cost?.bySession
            .filter((s) => sessionKey(s.session) === key(id))
            .reduce((a, s) => a + BigInt(s.totalNano), 0n) ?? 0n),
        0n,
      );
    for (const id of ['alpha', 'beta', 'gamma']) expect(sessionCost(id)).toBeGreaterThan(0n);
  });

  it('records each model call once as sent, cache reads and all, priced per call at the policy rates', () => {
    const expected = sent
      .filter((s) => s.model !== undefined)
      .map((s) => ({
        session: key(s.session),
        model: s.model,
        input: String(s.input ?? 0n),
        output: String(s.output ?? 0n),
        cacheRead: String(s.cacheRead ?? 0n),
        costNano: String(
          expectedCallNano(s.model ?? '', s.input ?? 0n, s.output ?? 0n, s.cacheRead ?? 0n),
        ),
      }));
    const got: typeof expected = [];
    for (const entry of callEntries()) {
      expect(entry.pod.uid).toBe(uids.get('shared'));
      expect(entry.priced).toBe(true);
      expect(entry.cost?.policy.name).toBe(POLICY);
      let entryNano = 0n;
      for (const call of entry.calls) {
        expect(call).toMatchObject({ kind: 'model', operation: 'chat', unpriced: null });
        entryNano += BigInt(call.costNano ?? '0');
        got.push({
          session: sessionKey(entry.session),
          model: call.model ?? undefined,
          input: call.tokens?.input ?? '',
          output: call.tokens?.output ?? '',
          cacheRead: call.tokens?.cacheRead ?? '',
          costNano: call.costNano ?? '',
        });
      }
      expect(entry.cost?.totalNano).toBe(entryNano.toString());
    }
    const order = (a: (typeof expected)[number], b: (typeof expected)[number]) =>
      JSON.stringify(a) < JSON.stringify(b) ? -1 : 1;
    // Each call once: the retried export of alpha added none.
    expect(got.sort(order)).toEqual(expected.sort(order));
  });

  it('records the allocation tags as measured: labels on usage and calls, span attributes on calls', () => {
    const labels = { 'cost-center': 'cc-7', team: 'red' };
    const shared = podEntries('shared').filter((e) => e.priced);
    expect(shared.length).toBeGreaterThan(0);
    for (const entry of shared) expect(entry.tags).toEqual(labels);
    // The exclusive pod has no cost-center label: no value, no tag.
    for (const entry of podEntries('exclusive').filter((e) => e.priced)) {
      expect(entry.tags).toEqual({ team: 'red' });
    }
    // Each call's entry carries its span's agent; alpha's two agents got an entry each.
    const agentOf = new Map(
      sent
        .filter((s) => s.model !== undefined)
        .map((s) => [`${key(s.session)} ${s.input}`, s.agent]),
    );
    const seen: string[] = [];
    for (const entry of callEntries()) {
      for (const call of entry.calls) {
        const agent = agentOf.get(`${sessionKey(entry.session)} ${call.tokens?.input}`);
        expect(entry.tags).toEqual(agent === undefined ? labels : { agent, ...labels });
        seen.push(`${sessionKey(entry.session)} ${agent ?? '-'}`);
      }
    }
    expect(new Set(seen)).toEqual(
      new Set([
        key('alpha') + ' planner',
        key('alpha') + ' critic',
        key('beta') + ' coder',
        key('gamma') + ' -',
      ]),
    );
  });

  it('spans from a source that is not the claimed pod are rejected and move no cost', () => {
    expect(rejected).toEqual({
      spoofedFromOtherPod: 2n,
      strangerNoClaim: 2n,
      strangerUnknownUid: 2n,
    });
    const spoofed = [key('spoof'), key('stranger')];
    for (const entry of entries) {
      if (entry.kind === 'pod-usage') {
        for (const s of entry.shares) expect(spoofed).not.toContain(sessionKey(s.session));
        for (const s of entry.cost?.bySession ?? [])
          expect(spoofed).not.toContain(sessionKey(s.session));
      }
      if (entry.kind === 'calls') expect(spoofed).not.toContain(sessionKey(entry.session));
    }
    // The other pod's address was not charged either: it has no usage entries or calls at all.
    expect(podEntries('other')).toEqual([]);
    expect(callEntries().every((e) => e.pod.uid === uids.get('shared'))).toBe(true);
  });

  it('gives the whole exclusive pod to its annotated session', () => {
    const mine = podEntries('exclusive').filter((e) => BigInt(e.time.end) > BigInt(e.time.start));
    expect(mine.length).toBeGreaterThanOrEqual(3);
    let cpu = 0n;
    for (const entry of mine) {
      expect(conservationViolation(entry)).toBeNull();
      const [session, rest] = entry.shares;
      expect(entry.shares).toHaveLength(2);
      expect(session?.session).toEqual({ namespace: NAMESPACE, id: 'batch-42' });
      expect(session?.usage).toEqual(entry.usage);
      expect(rest?.session).toBeNull();
      expect(Object.values(rest?.usage ?? {}).every((v) => v === '0')).toBe(true);
      expect(entry.cost?.bySession.map((s) => s.totalNano)).toEqual([entry.cost?.totalNano, '0']);
      cpu += BigInt(entry.usage.cpuNs);
    }
    expect(cpu).toBeGreaterThan(100_000_000n);
  });

  it('/v1/sessions/{namespace}/{id} and its /calls agree with the ledger on usage, calls and cost', async () => {
    // Read as the cluster admin, whom the SubjectAccessReview allows in every namespace.
    const admin = { authorization: `Bearer ${controlPlane().admin.token}` };
    for (const id of ['alpha', 'gamma', 'batch-42']) {
      // The agent keeps ticking: read the view, then the ledger up to the seq the view sums to.
      const res = await fetch(`${agent.url}/v1/sessions/${NAMESPACE}/${id}`, { headers: admin });
      expect(res.status).toBe(200);
      const view = (await res.json()) as {
        session: SessionRef;
        usage: WireUsage;
        tokens: {
          model: string;
          inputTokens: string;
          outputTokens: string;
          cacheReadTokens: string;
        }[];
        cost: {
          infrastructure: Record<string, string>;
          tokens: Record<string, string>;
          tools: Record<string, string>;
          apis: Record<string, string>;
          total: Record<string, string>;
        };
        ledgerSeq: string;
      };
      const upTo = BigInt(view.ledgerSeq);
      const atView = (await agent.ledger()).filter((e) => BigInt(e.seq) <= upTo);
      expect(BigInt(atView.at(-1)?.seq ?? 0)).toBe(upTo);
      const shares = atView
        .filter((e): e is PodUsageEntry => e.kind === 'pod-usage')
        .flatMap((e) =>
          e.shares
            .map((s, i) => ({ share: s, cost: e.cost?.bySession[i] }))
            .filter((x) => sessionKey(x.share.session) === key(id)),
        );
      const infraNano = shares.reduce((sum, x) => sum + BigInt(x.cost?.totalNano ?? '0'), 0n);
      const cpuNs = shares.reduce((sum, x) => sum + BigInt(x.share.usage.cpuNs), 0n);
      const calls = atView
        .filter((e): e is CallsEntry => e.kind === 'calls')
        .filter((e) => sessionKey(e.session) === key(id));
      const tokenNano = calls.reduce((sum, e) => sum + BigInt(e.cost?.totalNano ?? '0'), 0n);
      const perModel = new Map<
        string,
        { inputTokens: string; outputTokens: string; cacheReadTokens: string }
      >();
      for (const e of calls) {
        for (const c of e.calls) {
          const model = c.model ?? 'unknown';
          const t = perModel.get(model) ?? {
            inputTokens: '0',
            outputTokens: '0',
            cacheReadTokens: '0',
          };
          perModel.set(model, {
            inputTokens: String(BigInt(t.inputTokens) + BigInt(c.tokens?.input ?? '0')),
            outputTokens: String(BigInt(t.outputTokens) + BigInt(c.tokens?.output ?? '0')),
            cacheReadTokens: String(BigInt(t.cacheReadTokens) + BigInt(c.tokens?.cacheRead ?? '0')),
          });
        }
      }

      expect(view.session).toEqual({ namespace: NAMESPACE, id });
      expect(BigInt(view.usage.cpuNs)).toBe(cpuNs);
      expect(view.tokens).toEqual(
        [...perModel]
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([model, t]) => expect.objectContaining({ model, ...t })),
      );
      expect(parseMoney(view.cost.infrastructure.USD ?? '0')).toBe(infraNano);
      expect(parseMoney(view.cost.tokens.USD ?? '0')).toBe(tokenNano);
      expect(parseMoney(view.cost.total.USD ?? '0')).toBe(infraNano + tokenNano);
      expect(infraNano).toBeGreaterThan(0n);

      // The calls route: the same calls as a tree, infrastructure from the same entries.
      const tree = await fetch(`${agent.url}/v1/sessions/${NAMESPACE}/${id}/calls`, {
        headers: admin,
      });
      expect(tree.status).toBe(200);
      const listed = (await tree.json()) as {
        calls: string;
        traces: { calls: unknown[] }[];
        cost: {
          infrastructure: { USD?: string };
          calls: { USD?: string };
          total: { USD?: string };
        };
      };
      const callsNano = parseMoney(listed.cost.calls.USD ?? '0');
      expect(parseMoney(listed.cost.total.USD ?? '0')).toBe(
        parseMoney(listed.cost.infrastructure.USD ?? '0') + callsNano,
      );
      const sentCalls = sent.filter((s) => s.session === id && s.model !== undefined).length;
      expect(listed.calls).toBe(String(sentCalls));
      expect(listed.traces.flatMap((t) => t.calls)).toHaveLength(sentCalls);
      expect(parseMoney(listed.cost.infrastructure.USD ?? '0')).toBeGreaterThanOrEqual(infraNano);
    }
    const spoof = await fetch(`${agent.url}/v1/sessions/${NAMESPACE}/spoof`, { headers: admin });
    expect(spoof.status).toBe(404);
  });
});
