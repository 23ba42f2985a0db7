// Issue 15, the isolation half, against the real agent process and the real apiserver (its
// TokenReview, SubjectAccessReview and RBAC). Two tenants' pods on one node, each at its own
// loopback address; a stranger address that is no pod; a proxy address the admin trusts. Each
// finding of the issue is a test here: a pod of tenant B reading tenant A's session, spans from
// a non-pod address charging tenant A, a garbage-token flood turned against the apiserver, and
// refusals nobody counted.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CoreV1Api,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_ACCESS } from '@agentmeter/kube-client/access';
import { AgentProcess, metricValue } from '../support/agent-process.ts';
import { adminKubeConfig, controlPlane } from '../support/kube.ts';
import { startPlaneAgent } from '../support/plane-agent.ts';
import { serviceAccountToken } from '../support/operator-process.ts';
import { waitFor } from '../support/wait.ts';

const RUN = randomBytes(3).toString('hex');
const NODE = `isolation-node-${RUN}`;
const TENANT_A = `tenant-a-${RUN}`;
const TENANT_B = `tenant-b-${RUN}`;
const AGENT_HOST = '127.0.0.90';
const POD_A_IP = '127.0.0.91';
const POD_B_IP = '127.0.0.92';
/** No pod has it, and the admin does not trust it. */
const STRANGER_IP = '127.0.0.93';
/** A proxy the admin lists in --trusted-proxies. */
const PROXY_IP = '127.0.0.94';
/** Sources of the garbage-token flood. */
const FLOOD_SOURCES = Array.from({ length: 20 }, (_, i) => `127.0.1.${i + 1}`);

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request from `localAddress` (so the agent sees that source). */
function call(
  url: string,
  options: {
    method?: string;
    localAddress: string;
    headers?: Record<string, string>;
    body?: string;
  },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        localAddress: options.localAddress,
        headers: options.headers ?? {},
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

let spanCounter = 0;
function exportBody(session: string, options: { podUid?: string; tokens?: number } = {}): string {
  const now = BigInt(Date.now()) * 1_000_000n;
  const resource = [{ key: 'service.name', value: { stringValue: 'runtime' } }];
  if (options.podUid !== undefined)
    resource.push({ key: 'k8s.pod.uid', value: { stringValue: options.podUid } });
  const spans = [0, 1].map(() => {
    spanCounter++;
    return {
      traceId: `${RUN}${spanCounter.toString(16).padStart(26, '0')}`,
      spanId: spanCounter.toString(16).padStart(16, '0'),
      name: 'chat',
      startTimeUnixNano: (now - 2_000_000_000n).toString(),
      endTimeUnixNano: (now - 1_000_000_000n).toString(),
      attributes: [
        { key: 'session.id', value: { stringValue: session } },
        { key: 'gen_ai.request.model', value: { stringValue: 'claude-sonnet-4-5' } },
        {
          key: 'gen_ai.usage.input_tokens',
          value: { intValue: String(options.tokens ?? 250_000) },
        },
      ],
    };
  });
  return JSON.stringify({
    resourceSpans: [{ resource: { attributes: resource }, scopeSpans: [{ spans }] }],
  });
}

function postSpans(agent: AgentProcess, from: string, body: string): Promise<Answer> {
  return call(`${agent.otlpUrl}/v1/traces`, {
    method: 'POST',
    localAddress: from,
    headers: { 'content-type': 'application/json' },
    body,
  });
}

function partial(answer: Answer): { rejectedSpans?: string; errorMessage?: string } {
  return (JSON.parse(answer.body) as { partialSuccess?: object }).partialSuccess ?? {};
}

describe('tenant isolation on the real agent and apiserver', () => {
  const kc = adminKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const admin = { authorization: `Bearer ${controlPlane().admin.token}` };
  const uids = new Map<string, string>();
  let agent: AgentProcess;
  let stateDir: string;
  let readerToken: string;
  let outsiderToken: string;

  async function runningPod(namespace: string, name: string, ip: string): Promise<void> {
    const pod = await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name },
        spec: { nodeName: NODE, containers: [{ name: 'main', image: 'example.invalid/a:1' }] },
      },
    });
    uids.set(namespace, pod.metadata?.uid ?? '');
    await core.patchNamespacedPodStatus(
      { name, namespace, body: { status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }

  const session = (
    namespace: string,
    id: string,
    from: string,
    headers: Record<string, string> = {},
  ) => call(`${agent.url}/v1/sessions/${namespace}/${id}`, { localAddress: from, headers });

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'agentmeter-isolation-'));
    for (const ns of [TENANT_A, TENANT_B])
      await core.createNamespace({ body: { metadata: { name: ns } } });
    await runningPod(TENANT_A, 'runtime', POD_A_IP);
    await runningPod(TENANT_B, 'runtime', POD_B_IP);
    for (const name of ['reader', 'outsider'])
      await core.createNamespacedServiceAccount({
        namespace: TENANT_B,
        body: { metadata: { name } },
      });
    readerToken = await serviceAccountToken(core, TENANT_B, 'reader');
    outsiderToken = await serviceAccountToken(core, TENANT_B, 'outsider');

    agent = await startPlaneAgent({
      nodeName: NODE,
      stateDir,
      host: AGENT_HOST,
      extraArgs: [`--trusted-proxies=${PROXY_IP}/32`],
    });
    // Tenant A's runtime reports its session from its own address.
    const own = await postSpans(agent, POD_A_IP, exportBody('a-1'));
    expect(own.status, own.body).toBe(200);
    expect(partial(own)).toEqual({});
    await waitFor(
      'tenant A session on the agent',
      async () => (await session(TENANT_A, 'a-1', POD_A_IP)).status === 200,
    );
  });

  afterAll(async () => {
    await agent?.kill9();
    for (const ns of [TENANT_A, TENANT_B])
      await core.deleteNamespace({ name: ns }).catch(() => undefined);
    await rbac
      .deleteClusterRole({ name: `isolation-${RUN}-session-reader` })
      .catch(() => undefined);
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  it('a pod of another namespace cannot read a session, on the API port nor the OTLP port', async () => {
    for (const base of [agent.url, agent.otlpUrl]) {
      const stolen = await call(`${base}/v1/sessions/${TENANT_A}/a-1`, { localAddress: POD_B_IP });
      expect(stolen.status, stolen.body).toBe(403);
      expect(stolen.body).not.toContain('a-1"');
      const mark = await call(`${base}/v1/sessions/${TENANT_A}/a-1/over-budget`, {
        localAddress: POD_B_IP,
      });
      expect([403, 404]).toContain(mark.status);
      const own = await call(`${base}/v1/sessions/${TENANT_A}/a-1`, { localAddress: POD_A_IP });
      expect(own.status, own.body).toBe(200);
      expect(JSON.parse(own.body)).toMatchObject({ session: { namespace: TENANT_A, id: 'a-1' } });
      // The session's calls: the same rule.
      const calls = await call(`${base}/v1/sessions/${TENANT_A}/a-1/calls`, {
        localAddress: POD_B_IP,
      });
      expect(calls.status, calls.body).toBe(403);
      expect(calls.body).not.toContain('traceId');
      const ownCalls = await call(`${base}/v1/sessions/${TENANT_A}/a-1/calls`, {
        localAddress: POD_A_IP,
      });
      expect(ownCalls.status, ownCalls.body).toBe(200);
      expect(JSON.parse(ownCalls.body)).toMatchObject({
        session: { namespace: TENANT_A, id: 'a-1' },
      });
    }
    const mark = await call(`${agent.url}/v1/sessions/${TENANT_A}/a-1/over-budget`, {
      localAddress: POD_A_IP,
    });
    expect(mark.status).toBe(200);
    // Not a pod at all, and no token.
    expect((await session(TENANT_A, 'a-1', STRANGER_IP)).status).toBe(403);
  });

  it('a bearer token reads a namespace only once a SubjectAccessReview allows get sessions there', async () => {
    const outsider = { authorization: `Bearer ${outsiderToken}` };
    expect((await session(TENANT_A, 'a-1', STRANGER_IP, outsider)).status).toBe(403);
    expect(
      (await session(TENANT_A, 'a-1', STRANGER_IP, { authorization: 'Bearer garbage' })).status,
    ).toBe(401);
    // The chart's session-reader ClusterRole, bound in tenant A to tenant B's reader.
    const role = `isolation-${RUN}-session-reader`;
    await rbac.createClusterRole({
      body: {
        metadata: { name: role },
        rules: [
          {
            apiGroups: [SESSION_ACCESS.group],
            resources: [SESSION_ACCESS.resource],
            verbs: [SESSION_ACCESS.verb],
          },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: TENANT_A,
      body: {
        metadata: { name: 'reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: TENANT_B }],
      },
    });
    const reader = { authorization: `Bearer ${readerToken}` };
    await expect
      .poll(async () => (await session(TENANT_A, 'a-1', STRANGER_IP, reader)).status, {
        timeout: 15_000,
      })
      .toBe(200);
    // Bound in tenant A only: tenant B's own sessions, and the ledger, stay closed to it.
    expect((await session(TENANT_B, 'b-1', STRANGER_IP, reader)).status).toBe(403);
    const ledger = await call(`${agent.url}/v1/ledger`, {
      localAddress: STRANGER_IP,
      headers: reader,
    });
    expect(ledger.status).toBe(403);
  });

  it('spans from an address that is no pod of this node cannot charge a tenant, whatever they claim', async () => {
    const stolen = await postSpans(
      agent,
      STRANGER_IP,
      exportBody('stolen', { podUid: uids.get(TENANT_A) }),
    );
    expect(stolen.status).toBe(200);
    const refused = partial(stolen);
    expect(refused.rejectedSpans).toBe('2');
    expect(refused.errorMessage).toMatch(
      /untrusted_source: 2, the sender is not a live pod of this node nor a proxy/,
    );
    // A pod of tenant B claiming tenant A's pod is refused as spoofing.
    const spoof = await postSpans(
      agent,
      POD_B_IP,
      exportBody('stolen', { podUid: uids.get(TENANT_A) }),
    );
    expect(partial(spoof)).toMatchObject({ rejectedSpans: '2' });
    expect(partial(spoof).errorMessage).toMatch(/spoofed_pod/);

    // From the trusted proxy the claim is believed, and counted as unverified.
    const proxied = await postSpans(
      agent,
      PROXY_IP,
      exportBody('via-proxy', { podUid: uids.get(TENANT_A) }),
    );
    expect(partial(proxied)).toEqual({});
    await waitFor(
      'the proxied session',
      async () => (await session(TENANT_A, 'via-proxy', POD_A_IP)).status === 200,
    );
    expect(metricValue(await agent.metrics(), 'agentmeter_identity_unverified_total')).toBe(2);
    // Ticks after the proxied spans settled, the stranger's session still does not exist.
    expect((await session(TENANT_A, 'stolen', POD_A_IP)).status).toBe(404);
    const entries = await agent.ledger();
    const stolenEntries = entries.filter((e) =>
      e.kind === 'calls'
        ? e.session?.id === 'stolen'
        : e.kind === 'pod-usage' && e.shares.some((share) => share.session?.id === 'stolen'),
    );
    expect(stolenEntries).toEqual([]);
  });

  it('a garbage-token flood is bounded: 429 without asking the apiserver, and passed tokens stay cached', async () => {
    const reviewsAsked = async (): Promise<number> => {
      const text = await agent.metrics();
      return ['allowed', 'denied', 'error'].reduce(
        (sum, outcome) =>
          sum +
          (metricValue(text, 'agentmeter_token_reviews_total', { kind: 'token', outcome }) ?? 0),
        0,
      );
    };
    // The admin token (an authorised ledger reader) passes once before the flood.
    expect(
      (await call(`${agent.url}/v1/ledger?limit=1`, { localAddress: AGENT_HOST, headers: admin }))
        .status,
    ).toBe(200);
    const apiserverBefore = await apiserverTokenReviews();
    const before = await reviewsAsked();
    const t0 = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        call(`${agent.url}/v1/ledger`, {
          localAddress: FLOOD_SOURCES[i % FLOOD_SOURCES.length] as string,
          headers: { authorization: `Bearer garbage-${RUN}-${i}` },
        }),
      ),
    );
    const seconds = (Date.now() - t0) / 1000;
    const asked = (await reviewsAsked()) - before;
    const byStatus = new Map<number, number>();
    for (const a of answers) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
    const throttled = answers.filter((a) => a.status === 429);
    // Figures for the report: what the flood cost the apiserver.
    process.stdout.write(
      `garbage-token flood: 500 requests from ${FLOOD_SOURCES.length} sources in ${seconds.toFixed(1)} s; ` +
        `answers ${JSON.stringify(Object.fromEntries(byStatus))}; TokenReviews by the agent ${asked}; ` +
        `apiserver tokenreviews +${(await apiserverTokenReviews()) - apiserverBefore} (all clients)\n`,
    );
    // The overall bound: a burst of 40 and 10 a second.
    expect(asked).toBeLessThanOrEqual(40 + Math.ceil(10 * seconds) + 1);
    expect(byStatus.get(401)).toBe(asked);
    expect(throttled.length).toBe(500 - asked);
    expect(throttled.every((a) => Number(a.headers['retry-after']) >= 1)).toBe(true);

    // The admin's answer survived the flood: served without a new review.
    const afterFlood = await reviewsAsked();
    expect(
      (await call(`${agent.url}/v1/ledger?limit=1`, { localAddress: AGENT_HOST, headers: admin }))
        .status,
    ).toBe(200);
    expect(await reviewsAsked()).toBe(afterFlood);
    expect(
      metricValue(await agent.metrics(), 'agentmeter_token_reviews_total', {
        kind: 'token',
        outcome: 'throttled',
      }),
    ).toBe(500 - asked);
  });

  it('every refusal is counted: decoding rejections by reason, HTTP answers by route and status class', async () => {
    const malformed = await postSpans(agent, POD_A_IP, '{"resourceSpans": [');
    expect(malformed.status).toBe(400);
    const badTime = JSON.parse(exportBody('a-1')) as {
      resourceSpans: { scopeSpans: { spans: { endTimeUnixNano: string }[] }[] }[];
    };
    const span = badTime.resourceSpans[0]?.scopeSpans[0]?.spans[0];
    if (span) span.endTimeUnixNano = '1';
    const partly = await postSpans(agent, POD_A_IP, JSON.stringify(badTime));
    expect(partial(partly)).toMatchObject({ rejectedSpans: '1' });
    const wrongType = await call(`${agent.otlpUrl}/v1/traces`, {
      method: 'POST',
      localAddress: POD_A_IP,
      headers: { 'content-type': 'text/plain' },
      body: 'x',
    });
    expect(wrongType.status).toBe(415);

    const text = await agent.metrics();
    expect(
      metricValue(text, 'agentmeter_otlp_requests_refused_total', { reason: 'malformed' }),
    ).toBe(1);
    expect(
      metricValue(text, 'agentmeter_otlp_requests_refused_total', {
        reason: 'unsupported_media_type',
      }),
    ).toBe(1);
    expect(
      metricValue(text, 'agentmeter_otlp_decode_rejected_spans_total', { reason: 'invalid_time' }),
    ).toBe(1);
    expect(
      metricValue(text, 'agentmeter_http_responses_total', {
        listener: 'api',
        route: '/v1/sessions/:namespace/:id',
        status_class: '4xx',
      }),
    ).toBeGreaterThanOrEqual(4);
    expect(
      metricValue(text, 'agentmeter_http_responses_total', {
        listener: 'otlp',
        route: '/v1/traces',
        status_class: '4xx',
      }),
    ).toBe(2);
    expect(
      metricValue(text, 'agentmeter_http_responses_total', {
        listener: 'api',
        route: '/v1/ledger',
        status_class: '4xx',
      }),
    ).toBeGreaterThanOrEqual(500);
    // Bounded labels: no session id, namespace or raw URL became a route.
    for (const line of text
      .split('\n')
      .filter((l) => l.startsWith('agentmeter_http_responses_total{'))) {
      expect(line).not.toContain(RUN);
    }
  });
});

/** tokenreviews created on the apiserver so far, from its own metrics (all clients). */
function apiserverTokenReviews(): Promise<number> {
  const plane = controlPlane();
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${plane.server}/metrics`,
      { ca: readFileSync(plane.caFile), headers: { authorization: `Bearer ${plane.admin.token}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let sum = 0;
          for (const line of Buffer.concat(chunks).toString().split('\n')) {
            if (
              line.startsWith('apiserver_request_total{') &&
              line.includes('resource="tokenreviews"')
            )
              sum += Number(line.slice(line.lastIndexOf(' ') + 1));
          }
          resolve(sum);
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}
