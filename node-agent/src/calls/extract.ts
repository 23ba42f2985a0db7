// Span → leaf call. A model call is a GenAI inference span (or any span with token usage), a
// tool call an `execute_tool` or MCP `tools/call` span, an API call an HTTP client span to a host
// a policy prices. Wrapper spans (invoke_agent, …) aggregate their children and are never
// calls, so nothing is counted twice. Only ids, names, counts, the host and a tool's argument
// hash are kept: never prompt or response text, tool arguments, URLs or query strings.
import { sortedTags, tagValue } from '@agentmeter/crds';
import type { CallKind, CallTokenCounts, EntryTags, SpanTag } from '@agentmeter/crds';
import type { Attributes, AttrValue, SpanRecord } from '../otlp/types.ts';
import { SPAN_KIND_CLIENT, STATUS_CODE_ERROR } from '../otlp/types.ts';
import { argsHash, type ArgsHashProblem } from './args-hash.ts';
import { tokenCount, type TokenCountProblem } from './token-count.ts';

export const MODEL_OPERATIONS: ReadonlySet<string> = new Set([
  'chat',
  'text_completion',
  'generate_content',
  'embeddings',
]);
export const WRAPPER_OPERATIONS: ReadonlySet<string> = new Set([
  'invoke_agent',
  'invoke_workflow',
  'create_agent',
]);
export const TOOL_OPERATION = 'execute_tool';
export const MCP_TOOL_METHOD = 'tools/call';
export const API_OPERATION = 'http';

/** Each count's keys, current semantic-convention name first (it wins when both are sent). */
export const TOKEN_KEYS = {
  input: ['gen_ai.usage.input_tokens', 'gen_ai.usage.prompt_tokens'],
  output: ['gen_ai.usage.output_tokens', 'gen_ai.usage.completion_tokens'],
  cacheRead: ['gen_ai.usage.cache_read.input_tokens', 'gen_ai.usage.cache_read_input_tokens'],
  cacheCreation: [
    'gen_ai.usage.cache_creation.input_tokens',
    'gen_ai.usage.cache_creation_input_tokens',
  ],
  reasoning: ['gen_ai.usage.reasoning.output_tokens'],
} as const;
export type TokenField = keyof typeof TOKEN_KEYS;
const TOKEN_FIELDS = Object.keys(TOKEN_KEYS) as TokenField[];

export const OPERATION_KEY = 'gen_ai.operation.name';
export const MODEL_KEYS = ['gen_ai.response.model', 'gen_ai.request.model'] as const;
export const PROVIDER_KEYS = ['gen_ai.provider.name', 'gen_ai.system'] as const;
export const TOOL_NAME_KEY = 'gen_ai.tool.name';
export const TOOL_TYPE_KEY = 'gen_ai.tool.type';
export const TOOL_CALL_ID_KEY = 'gen_ai.tool.call.id';
export const MCP_METHOD_KEY = 'mcp.method.name';
export const HTTP_METHOD_KEYS = ['http.request.method', 'http.method'] as const;
export const HOST_KEYS = ['server.address', 'net.peer.name'] as const;
/** Read only to take the host out; never stored. */
export const URL_KEYS = ['url.full', 'http.url'] as const;
export const ERROR_TYPE_KEY = 'error.type';

// Bounds of the ledger's call fields (crds FIELD_MAX_LENGTH): a longer value is dropped, not cut.
const MAX = { operation: 64, provider: 128, model: 256, tool: 256, toolType: 64, errorType: 256 };
const WORD_RE = /^[!-~]+$/;
const HOST_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const MAX_HOST = 253;
export const UNKNOWN_TOOL = 'unknown';
export const UNKNOWN_OPERATION = 'unknown';

/** A call as read from its span, before it is priced. */
export interface CallDraft {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | null;
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly kind: CallKind;
  readonly operation: string;
  readonly provider: string | null;
  readonly model: string | null;
  readonly tool: {
    readonly name: string;
    readonly type: string | null;
    readonly callId: string | null;
    /** sha256 of the arguments (see args-hash.ts), null when the span carries none. */
    readonly argsHash: string | null;
  } | null;
  readonly apiHost: string | null;
  readonly tokens: CallTokenCounts | null;
  readonly errorType: string | null;
  /** Values of the pod's policy's span-attribute allocation tags, read from the span. */
  readonly spanTags?: EntryTags;
}

export type CallExtraction =
  | { readonly kind: 'none' }
  | {
      readonly kind: 'call';
      readonly call: CallDraft;
      /** A tool span's hash or arguments that were unusable: the call has no argsHash. */
      readonly argsHashProblem?: ArgsHashProblem;
    }
  | { readonly kind: 'invalid'; readonly problem: TokenCountProblem; readonly key: string };

/** The pattern a policy prices `host` by, or null: then an HTTP client span is no call. */
export type ApiHostMatcher = (host: string) => string | null;

function text(attributes: Attributes, keys: readonly string[], max: number): string | null {
  for (const key of keys) {
    const value = attributes.get(key);
    if (typeof value === 'string' && value !== '') return value.length <= max ? value : null;
  }
  return null;
}

function word(attributes: Attributes, keys: readonly string[], max: number): string | null {
  const value = text(attributes, keys, max);
  return value !== null && WORD_RE.test(value) ? value : null;
}

type Usage =
  | { readonly counts: CallTokenCounts | null }
  | { readonly problem: TokenCountProblem; readonly key: string };

function usage(attributes: Attributes): Usage {
  const counts: Record<TokenField, bigint> = {
    input: 0n,
    output: 0n,
    cacheRead: 0n,
    cacheCreation: 0n,
    reasoning: 0n,
  };
  let any = false;
  for (const field of TOKEN_FIELDS) {
    for (const key of TOKEN_KEYS[field]) {
      const raw: AttrValue | undefined = attributes.get(key);
      if (raw === undefined) continue;
      const n = tokenCount(raw);
      if (typeof n !== 'bigint') return { problem: n, key };
      counts[field] = n;
      any = true;
      break;
    }
  }
  return { counts: any ? counts : null };
}

/** Lower-case DNS host the ledger accepts, or null (IP literals of v6, junk, too long). */
export function normaliseHost(raw: string): string | null {
  const host = raw.toLowerCase().replace(/\.$/, '');
  return host.length <= MAX_HOST && HOST_RE.test(host) ? host : null;
}

/** The host of an HTTP client span: `server.address`, else the host part of its URL. */
export function spanHost(attributes: Attributes): string | null {
  const address = text(attributes, HOST_KEYS, MAX_HOST);
  if (address !== null) return normaliseHost(address);
  const url = text(attributes, URL_KEYS, 16_384);
  if (url === null || !URL.canParse(url)) return null;
  return normaliseHost(new URL(url).hostname);
}

function errorType(span: SpanRecord): string | null {
  const type = text(span.attributes, [ERROR_TYPE_KEY], MAX.errorType);
  if (type !== null) return type;
  return span.statusCode === STATUS_CODE_ERROR ? 'status-error' : null;
}

function draft(
  span: SpanRecord,
  fields: Omit<
    CallDraft,
    'traceId' | 'spanId' | 'parentSpanId' | 'startNs' | 'endNs' | 'errorType'
  >,
): { readonly kind: 'call'; readonly call: CallDraft } {
  return {
    kind: 'call',
    call: {
      traceId: span.traceId,
      spanId: span.spanId,
      parentSpanId: span.parentSpanId ?? null,
      startNs: span.startNs,
      endNs: span.endNs,
      ...fields,
      errorType: errorType(span),
    },
  };
}

export function extractCall(span: SpanRecord, apiHost: ApiHostMatcher): CallExtraction {
  const { attributes } = span;
  const op = attributes.get(OPERATION_KEY);
  if (typeof op === 'string' && WRAPPER_OPERATIONS.has(op)) return { kind: 'none' };
  const used = usage(attributes);
  if ('problem' in used) return { kind: 'invalid', problem: used.problem, key: used.key };
  const operation = word(attributes, [OPERATION_KEY], MAX.operation);
  const provider = word(attributes, PROVIDER_KEYS, MAX.provider);
  if (used.counts !== null || (operation !== null && MODEL_OPERATIONS.has(operation))) {
    return draft(span, {
      kind: 'model',
      operation: operation ?? UNKNOWN_OPERATION,
      provider,
      model: text(attributes, MODEL_KEYS, MAX.model),
      tool: null,
      apiHost: null,
      tokens: used.counts ?? {
        input: 0n,
        output: 0n,
        cacheRead: 0n,
        cacheCreation: 0n,
        reasoning: 0n,
      },
    });
  }
  const mcp = attributes.get(MCP_METHOD_KEY) === MCP_TOOL_METHOD;
  if (operation === TOOL_OPERATION || mcp) {
    const hashed = argsHash(attributes);
    const call = draft(span, {
      kind: 'tool',
      operation: operation === TOOL_OPERATION ? TOOL_OPERATION : MCP_TOOL_METHOD,
      provider,
      model: null,
      tool: {
        name: text(attributes, [TOOL_NAME_KEY], MAX.tool) ?? UNKNOWN_TOOL,
        type: text(attributes, [TOOL_TYPE_KEY], MAX.toolType),
        callId: text(attributes, [TOOL_CALL_ID_KEY], MAX.tool),
        argsHash: hashed.argsHash,
      },
      apiHost: null,
      tokens: null,
    });
    return hashed.problem === null ? call : { ...call, argsHashProblem: hashed.problem };
  }
  if (span.kind !== SPAN_KIND_CLIENT || text(attributes, HTTP_METHOD_KEYS, 64) === null) {
    return { kind: 'none' };
  }
  const host = spanHost(attributes);
  if (host === null || apiHost(host) === null) return { kind: 'none' };
  return draft(span, {
    kind: 'api',
    operation: API_OPERATION,
    provider: null,
    model: null,
    tool: null,
    apiHost: host,
    tokens: null,
  });
}

/**
 * The values of span-attribute tags a span carries: its own attribute, else its resource's.
 * Only string values are tags; undefined when the span carries none of them.
 */
export function spanTagValues(span: SpanRecord, tags: readonly SpanTag[]): EntryTags | undefined {
  if (tags.length === 0) return undefined;
  const out: [string, string][] = [];
  for (const tag of tags) {
    const value = tagValue(
      span.attributes.get(tag.attribute) ?? span.resourceAttributes.get(tag.attribute),
    );
    if (value !== undefined) out.push([tag.name, value]);
  }
  return sortedTags(out);
}
