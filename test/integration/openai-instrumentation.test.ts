// Issue 16, an LLM client instrumentation end to end: a user's app (test/apps/openai-app) calls a
// model with the official `openai` npm client, instrumented by @opentelemetry/instrumentation-openai
// on the standard OTel JS SDK, and exports to the real agent from its pod's address. The provider
// cannot be reached from here, so an OpenAI-compatible server on loopback answers the calls, with
// usage (cached tokens included) as the real API reports it; it stands in for the external
// provider only. Every call it answered must be in the ledger once, with the model it answered,
// its tokens, its place under the session's invoke_agent span and its cost as priceCall gives it.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import {
  compilePolicy,
  priceCall,
  type CallsEntry,
  type CostPolicySpec,
  type LedgerEntry,
} from '@agentmeter/crds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess } from '../support/agent-process.ts';
import { createCostPolicy, deleteCostPolicy } from '../support/cost-policy.ts';
import { adminKubeConfig } from '../support/kube.ts';
import { startPlaneAgent } from '../support/plane-agent.ts';
import { createRunningPod } from '../support/running-pod.ts';
import { waitFor } from '../support/wait.ts';

const RUN = randomBytes(3).toString('hex');
const NODE = `openai-node-${RUN}`;
const NAMESPACE = `openai-${RUN}`;
const POLICY = `openai-instr-${RUN}`;
const AGENT_HOST = '127.0.0.80';
const POD_IP = '127.0.0.81';
const APP_DIR = join(import.meta.dirname, '..', 'apps', 'openai-app');
const MS = 1_000_000n;

const SPEC: CostPolicySpec = {
  // Highest priority: other suites' policies on the shared apiserver never win here.
  priority: 1000,
  selector: { namespaceSelector: { matchLabels: { 'agentmeter.dev/test-run': RUN } } },
  currency: 'USD',
  rates: {
    tokens: [
      // The dated snapshot the provider answers with (gen_ai.response.model) is what is priced.
      {
        model: 'gpt-4o-mini-2024-07-18',
        inputPerMillion: '0.15',
        outputPerMillion: '0.60',
        cacheReadPerMillion: '0.075',
      },
      { model: 'text-embedding-3-small', inputPerMillion: '0.02', outputPerMillion: '0' },
    ],
  },
};

/** Request model → the model the provider answers with, as OpenAI names dated snapshots. */
const ANSWERED_MODEL: Record<string, string> = {
  'gpt-4o-mini': 'gpt-4o-mini-2024-07-18',
  'text-embedding-3-small': 'text-embedding-3-small',
  // No rate in the policy: recorded unpriced, never free.
  'o4-mini': 'o4-mini-2025-04-16',
};

const PLAN = [
  {
    session: 'chat-a',
    calls: [
      { op: 'chat', model: 'gpt-4o-mini' },
      { op: 'stream', model: 'gpt-4o-mini' },
      { op: 'embed', model: 'text-embedding-3-small' },
    ],
  },
  {
    session: 'chat-b',
    calls: [
      { op: 'stream', model: 'gpt-4o-mini' },
      { op: 'chat', model: 'o4-mini' },
      { op: 'chat', model: 'gpt-4o-mini' },
    ],
  },
];

// ---- The stand-in provider: OpenAI's chat completions and embeddings over HTTP -------------

interface Answered {
  readonly session: string;
  readonly operation: 'chat' | 'embeddings';
  readonly model: string;
  readonly prompt: bigint;
  readonly completion: bigint;
  readonly cached: bigint;
}

function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>);
      } catch (err) {
        reject(err as Error);
      }
    });
    req.on('error', reject);
  });
}

function provider(answered: Answered[]): Server {
  const answer = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readJson(req);
    const requested = String(body.model);
    const model = ANSWERED_MODEL[requested] ?? requested;
    const n = BigInt(answered.length);
    // Distinct, odd counts per call so no two calls price alike and rounding is exercised.
    const prompt = 1_201n + 977n * n;
    const cached = req.url === '/v1/embeddings' ? 0n : 1_024n;
    const completion = req.url === '/v1/embeddings' ? 0n : 37n + 13n * n;
    const usage = {
      prompt_tokens: Number(prompt),
      completion_tokens: Number(completion),
      total_tokens: Number(prompt + completion),
      prompt_tokens_details: { cached_tokens: Number(cached) },
    };
    const session = String(body.user);
    res.setHeader('content-type', 'application/json');
    if (req.url === '/v1/embeddings') {
      answered.push({ session, operation: 'embeddings', model, prompt, completion, cached });
      res.end(
        JSON.stringify({
          object: 'list',
          model,
          data: [{ object: 'embedding', index: 0, embedding: [0.25, -0.5] }],
          usage: { prompt_tokens: usage.prompt_tokens, total_tokens: usage.prompt_tokens },
        }),
      );
      return;
    }
    if (req.url !== '/v1/chat/completions') {
      res.statusCode = 404;
      res.end('{}');
      return;
    }
    answered.push({ session, operation: 'chat', model, prompt, completion, cached });
    const id = `chatcmpl-${answered.length}`;
    const message = { role: 'assistant', content: 'About a cent.' };
    if (body.stream !== true) {
      res.end(
        JSON.stringify({
          id,
          object: 'chat.completion',
          created: 1_796_000_000,
          model,
          choices: [{ index: 0, finish_reason: 'stop', message }],
          usage,
        }),
      );
      return;
    }
    // Streamed: content chunks, then (stream_options.include_usage) a last chunk with the usage.
    res.setHeader('content-type', 'text/event-stream');
    const chunk = (choices: unknown[], extra: object = {}): string =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 1_796_000_000, model, choices, ...extra })}\n\n`;
    res.write(chunk([{ index: 0, delta: message, finish_reason: null }]));
    res.write(chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]));
    res.write(chunk([], { usage }));
    res.end('data: [DONE]\n\n');
  };
  return createServer((req, res) => {
    answer(req, res).catch((err: unknown) => {
      res.statusCode = 500;
      res.end(JSON.stringify({ error: String(err) }));
    });
  });
}

// ---- The suite ------------------------------------------------------------------------------

describe('the openai client with the OTel OpenAI instrumentation: every call recorded and priced', () => {
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  const custom = adminKubeConfig().makeApiClient(CustomObjectsApi);
  const answered: Answered[] = [];
  const server = provider(answered);
  const agentSpans = new Map<string, { traceId: string; spanId: string }>();
  let stateDir: string;
  let agent: AgentProcess;
  let podUid = '';
  let calls: CallsEntry[] = [];

  beforeAll(async () => {
    if (!existsSync(join(APP_DIR, 'node_modules', 'openai'))) {
      throw new Error(`${APP_DIR} has no node_modules: run npm ci there (hack/test.sh does)`);
    }
    stateDir = await mkdtemp(join(tmpdir(), 'agentmeter-openai-'));
    await core.createNamespace({
      body: { metadata: { name: NAMESPACE, labels: { 'agentmeter.dev/test-run': RUN } } },
    });
    await createCostPolicy(custom, POLICY, SPEC);
    podUid = await createRunningPod(core, {
      namespace: NAMESPACE,
      name: 'openai-app',
      nodeName: NODE,
      ip: POD_IP,
    });
    agent = await startPlaneAgent({
      nodeName: NODE,
      stateDir,
      host: AGENT_HOST,
      tick: '1s',
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;

    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', './src/instrument.ts', 'src/main.ts', JSON.stringify(PLAN)],
      {
        cwd: APP_DIR,
        timeout: 60_000,
        env: {
          PATH: process.env.PATH,
          OPENAI_BASE_URL: `http://127.0.0.1:${port}/v1`,
          OPENAI_API_KEY: 'sk-test-not-a-key',
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${agent.otlpUrl}/v1/traces`,
          OTLP_LOCAL_ADDRESS: POD_IP,
        },
      },
    );
    for (const line of stdout.trim().split('\n')) {
      const { session, traceId, spanId } = JSON.parse(line) as {
        session: string;
        traceId: string;
        spanId: string;
      };
      agentSpans.set(session, { traceId, spanId });
    }
    const exportedAt = BigInt(Date.now()) * MS;
    // Settled: the watermark (2 ticks) has passed every tick that could still take a call.
    await waitFor('the ticks after the export to settle', async () => {
      const entries: LedgerEntry[] = await agent.ledger();
      calls = entries.filter(
        (e): e is CallsEntry => e.kind === 'calls' && e.pod.namespace === NAMESPACE,
      );
      return entries.some(
        (e) => e.kind === 'node-usage' && BigInt(e.time.start) > exportedAt + 3_000n * MS,
      );
    });
  });

  afterAll(async () => {
    server.close();
    await agent?.kill9();
    await core
      .deleteNamespacedPod({ name: 'openai-app', namespace: NAMESPACE, gracePeriodSeconds: 0 })
      .catch(() => undefined);
    await core.deleteNamespace({ name: NAMESPACE }).catch(() => undefined);
    await deleteCostPolicy(custom, POLICY);
    if (stateDir !== undefined) await rm(stateDir, { recursive: true, force: true });
  });

  it('the provider answered every planned call', () => {
    expect(answered.length).toBe(PLAN.reduce((n, s) => n + s.calls.length, 0));
    expect(agentSpans.size).toBe(PLAN.length);
  });

  it('records each answered call once, with its model, tokens, tree place and priceCall cost', () => {
    const rates = compilePolicy(POLICY, 1n, SPEC).rates;
    const expected = answered.map((a) => {
      // instrumentation-openai 0.21.0 does not read usage.prompt_tokens_details.cached_tokens:
      // the cached tokens never reach the agent, so the call is priced as all-uncached input
      // (the README says so next to the install line).
      const tokens = { input: a.prompt, output: a.completion, cacheRead: 0n };
      const price = priceCall(rates, {
        kind: 'model',
        model: a.model,
        toolName: null,
        apiHost: null,
        tokens: { ...tokens, cacheCreation: 0n, reasoning: 0n },
      });
      const parent = agentSpans.get(a.session);
      return {
        session: a.session,
        traceId: parent?.traceId,
        parentSpanId: parent?.spanId,
        operation: a.operation,
        provider: 'openai',
        model: a.model,
        tokens: {
          input: String(tokens.input),
          output: String(tokens.output),
          cacheRead: '0',
          cacheCreation: '0',
          reasoning: '0',
        },
        costNano: price.costNano === null ? null : String(price.costNano),
        rate: price.rate,
        unpriced: price.unpriced,
      };
    });
    const got: object[] = [];
    for (const entry of calls) {
      expect(entry.pod.uid).toBe(podUid);
      expect(entry.cost?.policy.name).toBe(POLICY);
      let entryNano = 0n;
      for (const call of entry.calls) {
        expect(call.kind).toBe('model');
        expect(BigInt(call.end)).toBeGreaterThan(BigInt(call.start));
        entryNano += BigInt(call.costNano ?? '0');
        got.push({
          session: entry.session?.namespace === NAMESPACE ? entry.session.id : '(none)',
          traceId: call.traceId,
          parentSpanId: call.parentSpanId ?? undefined,
          operation: call.operation,
          provider: call.provider,
          model: call.model,
          tokens: call.tokens,
          costNano: call.costNano,
          rate: call.rate,
          unpriced: call.unpriced,
        });
      }
      expect(entry.cost?.totalNano).toBe(entryNano.toString());
    }
    const order = (a: object, b: object): number =>
      JSON.stringify(a) < JSON.stringify(b) ? -1 : 1;
    // The invoke_agent spans are wrappers, never calls: only the client's calls are here.
    expect(got.sort(order)).toEqual(expected.sort(order));
    expect(expected.filter((c) => c.unpriced === 'no-model-rate')).toHaveLength(1);
    expect(expected.filter((c) => c.costNano !== null && BigInt(c.costNano) > 0n)).toHaveLength(
      answered.length - 1,
    );
  });
});
