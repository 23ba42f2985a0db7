// One agent session, as a GenAI app traces it with the OpenTelemetry semantic conventions: an
// `invoke_agent` span holding, per turn, a `chat` span (the model call, with its token usage)
// and the turn's `execute_tool` spans. Every span carries `session.id`, the attribute the node
// agent charges a span's session by. The model and tools are simulated: each step spends real
// CPU, in slices, so concurrent sessions interleave on the event loop as a real agent's would.
import { createHash } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { SpanKind, SpanStatusCode, type Span, type Tracer } from '@opentelemetry/api';

export const SESSION_ID_ATTRIBUTE = 'session.id';
const SESSION_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

export interface SessionRequest {
  readonly sessionId: string;
  readonly model: string;
  readonly turns: number;
  readonly toolsPerTurn: number;
  /** CPU each step (model call or tool call) spends. */
  readonly cpuMsPerStep: number;
  /** Tokens of each chat turn; input includes the cache reads (semantic conventions). */
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadTokens: number;
  /** External API each turn calls once (an HTTP client span), or none. */
  readonly apiHost: string | null;
}

export interface SessionResult {
  readonly sessionId: string;
  readonly traceId: string;
  readonly turns: number;
  readonly toolCalls: number;
  readonly inputTokens: bigint;
  readonly outputTokens: bigint;
  readonly cacheReadTokens: bigint;
  readonly apiCalls: number;
}

export class SessionRequestError extends Error {
  override name = 'SessionRequestError';
}

const LIMITS = { turns: 100, toolsPerTurn: 20, cpuMsPerStep: 10_000, tokens: 10_000_000 } as const;

function count(params: URLSearchParams, name: string, fallback: number, max: number): number {
  const raw = params.get(name);
  if (raw === null) return fallback;
  if (!/^\d{1,9}$/.test(raw) || Number(raw) > max) {
    throw new SessionRequestError(`${name}=${raw}: want an integer from 0 to ${max}`);
  }
  return Number(raw);
}

/**
 * Reads `POST /sessions/{id}?turns=&tools=&cpu_ms=&input_tokens=&output_tokens=&model=`
 * `&cache_read_tokens=&api_host=`.
 */
export function parseSessionRequest(
  sessionId: string,
  params: URLSearchParams,
  defaultModel: string,
): SessionRequest {
  if (!SESSION_ID_RE.test(sessionId)) {
    throw new SessionRequestError(
      `session id ${JSON.stringify(sessionId)}: want 1-128 of A-Z a-z 0-9 . _ : -`,
    );
  }
  const model = params.get('model') ?? defaultModel;
  if (!/^[\w.:/-]{1,128}$/.test(model))
    throw new SessionRequestError(`model ${JSON.stringify(model)} is not a model name`);
  const apiHost = params.get('api_host');
  if (apiHost !== null && !/^[a-z0-9.-]{1,253}$/.test(apiHost))
    throw new SessionRequestError(`api_host ${JSON.stringify(apiHost)} is not a host name`);
  const inputTokens = count(params, 'input_tokens', 1200, LIMITS.tokens);
  const cacheReadTokens = count(params, 'cache_read_tokens', 0, LIMITS.tokens);
  if (cacheReadTokens > inputTokens)
    throw new SessionRequestError('cache_read_tokens: input_tokens includes them, so at most it');
  return {
    sessionId,
    model,
    turns: count(params, 'turns', 3, LIMITS.turns),
    toolsPerTurn: count(params, 'tools', 1, LIMITS.toolsPerTurn),
    cpuMsPerStep: count(params, 'cpu_ms', 20, LIMITS.cpuMsPerStep),
    inputTokens,
    outputTokens: count(params, 'output_tokens', 300, LIMITS.tokens),
    cacheReadTokens,
    apiHost,
  };
}

/** Spends about `ms` of CPU, yielding to the event loop every few milliseconds. */
async function spendCpu(ms: number): Promise<void> {
  const end = performance.now() + ms;
  let digest = Buffer.alloc(32);
  while (performance.now() < end) {
    const slice = Math.min(end, performance.now() + 5);
    while (performance.now() < slice) digest = createHash('sha256').update(digest).digest();
    await yieldToLoop();
  }
}

async function inSpan<T>(
  tracer: Tracer,
  name: string,
  kind: SpanKind,
  body: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(name, { kind }, async (span) => {
    try {
      return await body(span);
    } catch (err) {
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: err instanceof Error ? err.message : String(err),
      });
      throw err;
    } finally {
      span.end();
    }
  });
}

export async function runSession(
  tracer: Tracer,
  req: SessionRequest,
  agentName: string,
): Promise<SessionResult> {
  const session = { [SESSION_ID_ATTRIBUTE]: req.sessionId };
  return inSpan(tracer, `invoke_agent ${agentName}`, SpanKind.INTERNAL, async (root) => {
    root.setAttributes({
      ...session,
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': agentName,
    });
    let toolCalls = 0;
    for (let turn = 0; turn < req.turns; turn++) {
      await inSpan(tracer, `chat ${req.model}`, SpanKind.CLIENT, async (chat) => {
        chat.setAttributes({
          ...session,
          'gen_ai.operation.name': 'chat',
          'gen_ai.request.model': req.model,
          'gen_ai.response.model': req.model,
          'gen_ai.usage.input_tokens': req.inputTokens,
          'gen_ai.usage.output_tokens': req.outputTokens,
          'gen_ai.usage.cache_read.input_tokens': req.cacheReadTokens,
        });
        await spendCpu(req.cpuMsPerStep);
      });
      if (req.apiHost !== null) {
        const host = req.apiHost;
        // What an HTTP client instrumentation records; the agent keeps only the host.
        await inSpan(tracer, 'POST', SpanKind.CLIENT, async (span) => {
          span.setAttributes({
            'http.request.method': 'POST',
            'server.address': host,
            'url.full': `https://${host}/v1/charges?api_key=not-for-the-ledger`,
            'http.response.status_code': 200,
          });
          await spendCpu(req.cpuMsPerStep);
        });
      }
      for (let t = 0; t < req.toolsPerTurn; t++) {
        const tool = `tool_${t}`;
        await inSpan(tracer, `execute_tool ${tool}`, SpanKind.INTERNAL, async (span) => {
          span.setAttributes({
            ...session,
            'gen_ai.operation.name': 'execute_tool',
            'gen_ai.tool.name': tool,
            'gen_ai.tool.type': 'function',
            'gen_ai.tool.call.id': `call_${turn}_${t}`,
          });
          await spendCpu(req.cpuMsPerStep);
        });
        toolCalls++;
      }
    }
    return {
      sessionId: req.sessionId,
      traceId: root.spanContext().traceId,
      turns: req.turns,
      toolCalls,
      inputTokens: BigInt(req.inputTokens) * BigInt(req.turns),
      outputTokens: BigInt(req.outputTokens) * BigInt(req.turns),
      cacheReadTokens: BigInt(req.cacheReadTokens) * BigInt(req.turns),
      apiCalls: req.apiHost === null ? 0 : req.turns,
    };
  });
}
