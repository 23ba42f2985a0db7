import { describe, expect, it } from 'vitest';
import type { AttrValue, SpanRecord } from '../otlp/types.ts';
import { SPAN_KIND_CLIENT, SPAN_KIND_INTERNAL, STATUS_CODE_ERROR } from '../otlp/types.ts';
import { extractCall, normaliseHost } from './extract.ts';
import { tokenCount } from './token-count.ts';

function span(attrs: Record<string, AttrValue>, extra: Partial<SpanRecord> = {}): SpanRecord {
  return {
    traceId: 'a'.repeat(32),
    spanId: 'b'.repeat(16),
    parentSpanId: 'c'.repeat(16),
    name: 'span',
    kind: SPAN_KIND_INTERNAL,
    startNs: 1_000n,
    endNs: 2_000n,
    attributes: new Map(Object.entries(attrs)),
    resourceAttributes: new Map(),
    ...extra,
  };
}

const stripe = (host: string) => (host === 'api.stripe.com' ? 'api.stripe.com' : null);

describe('tokenCount', () => {
  it('takes integral values of every wire type and refuses the rest with a bounded reason', () => {
    expect(tokenCount(100n)).toBe(100n);
    expect(tokenCount(100.0)).toBe(100n);
    expect(tokenCount(-0)).toBe(0n);
    expect(tokenCount('42')).toBe(42n);
    expect(tokenCount(100.5)).toBe('fractional');
    expect(tokenCount(-1n)).toBe('negative');
    expect(tokenCount(-3)).toBe('negative');
    expect(tokenCount('-3')).toBe('negative');
    expect(tokenCount(Number.NaN)).toBe('not_a_number');
    expect(tokenCount(Number.POSITIVE_INFINITY)).toBe('not_a_number');
    expect(tokenCount(true)).toBe('not_a_number');
    expect(tokenCount('12k')).toBe('not_a_number');
    expect(tokenCount(1e300)).toBe('too_large');
    expect(tokenCount(10n ** 15n)).toBe('too_large');
  });
});

describe('extractCall', () => {
  it('reads a chat span with every token count, cache and reasoning included', () => {
    const out = extractCall(
      span({
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'anthropic',
        'gen_ai.request.model': 'claude-sonnet-4',
        'gen_ai.response.model': 'claude-sonnet-4-20250514',
        'gen_ai.usage.input_tokens': 10_000.0,
        'gen_ai.usage.output_tokens': 500n,
        'gen_ai.usage.cache_read.input_tokens': 8_000n,
        'gen_ai.usage.cache_creation.input_tokens': 1_000n,
        'gen_ai.usage.reasoning.output_tokens': 200n,
        'gen_ai.prompt': 'secret prompt text',
      }),
      stripe,
    );
    expect(out).toEqual({
      kind: 'call',
      call: {
        traceId: 'a'.repeat(32),
        spanId: 'b'.repeat(16),
        parentSpanId: 'c'.repeat(16),
        startNs: 1_000n,
        endNs: 2_000n,
        kind: 'model',
        operation: 'chat',
        provider: 'anthropic',
        model: 'claude-sonnet-4-20250514',
        tool: null,
        apiHost: null,
        tokens: {
          input: 10_000n,
          output: 500n,
          cacheRead: 8_000n,
          cacheCreation: 1_000n,
          reasoning: 200n,
        },
        errorType: null,
      },
    });
    expect(
      JSON.stringify(out, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)),
    ).not.toContain('secret');
  });

  it('records a span with only cache-read tokens, and takes legacy spellings', () => {
    const out = extractCall(
      span({ 'gen_ai.usage.cache_read_input_tokens': 8_000n, 'gen_ai.system': 'openai' }),
      stripe,
    );
    expect(out.kind === 'call' && out.call).toMatchObject({
      kind: 'model',
      operation: 'unknown',
      provider: 'openai',
      model: null,
      tokens: { input: 0n, output: 0n, cacheRead: 8_000n, cacheCreation: 0n, reasoning: 0n },
    });
  });

  it('refuses the span on one bad count, naming the attribute', () => {
    expect(
      extractCall(
        span({ 'gen_ai.usage.input_tokens': 100.5, 'gen_ai.usage.output_tokens': 3n }),
        stripe,
      ),
    ).toEqual({ kind: 'invalid', problem: 'fractional', key: 'gen_ai.usage.input_tokens' });
    expect(extractCall(span({ 'gen_ai.usage.cache_read.input_tokens': -1n }), stripe)).toEqual({
      kind: 'invalid',
      problem: 'negative',
      key: 'gen_ai.usage.cache_read.input_tokens',
    });
  });

  it('never counts wrapper spans, whatever usage they sum up', () => {
    for (const op of ['invoke_agent', 'invoke_workflow', 'create_agent']) {
      expect(
        extractCall(span({ 'gen_ai.operation.name': op, 'gen_ai.usage.input_tokens': 5n }), stripe),
      ).toEqual({
        kind: 'none',
      });
    }
  });

  it('reads execute_tool and MCP tools/call spans as tool calls', () => {
    const tool = extractCall(
      span(
        {
          'gen_ai.operation.name': 'execute_tool',
          'gen_ai.tool.name': 'web_search',
          'gen_ai.tool.type': 'function',
          'gen_ai.tool.call.id': 'call_1',
          'error.type': 'timeout',
        },
        { statusCode: STATUS_CODE_ERROR },
      ),
      stripe,
    );
    expect(tool.kind === 'call' && tool.call).toMatchObject({
      kind: 'tool',
      operation: 'execute_tool',
      tool: { name: 'web_search', type: 'function', callId: 'call_1' },
      tokens: null,
      errorType: 'timeout',
    });
    const mcp = extractCall(
      span({ 'mcp.method.name': 'tools/call' }, { statusCode: STATUS_CODE_ERROR }),
      stripe,
    );
    expect(mcp.kind === 'call' && mcp.call).toMatchObject({
      kind: 'tool',
      operation: 'tools/call',
      tool: { name: 'unknown', type: null, callId: null, argsHash: null },
      errorType: 'status-error',
    });
  });

  it("keeps a tool call's argument hash, never its arguments, and says why one was ignored", () => {
    const hashed = extractCall(
      span({
        'gen_ai.operation.name': 'execute_tool',
        'gen_ai.tool.name': 'web_search',
        'gen_ai.tool.call.arguments': '{"q":"secret"}',
      }),
      stripe,
    );
    expect(hashed).toMatchObject({
      kind: 'call',
      call: { tool: { name: 'web_search', argsHash: expect.stringMatching(/^[0-9a-f]{64}$/) } },
    });
    expect(hashed).not.toHaveProperty('argsHashProblem');
    expect(
      JSON.stringify(hashed, (_, v: unknown) => (typeof v === 'bigint' ? `${v}` : v)),
    ).not.toContain('secret');
    const malformed = extractCall(
      span({
        'mcp.method.name': 'tools/call',
        'gen_ai.tool.name': 'fetch',
        'agentmeter.tool.arguments_hash': 'AB'.repeat(32),
      }),
      stripe,
    );
    expect(malformed).toMatchObject({
      kind: 'call',
      call: { tool: { name: 'fetch', argsHash: null } },
      argsHashProblem: 'hash_malformed',
    });
    // Only tool calls carry a hash: a model span's arguments attribute is not read.
    const model = extractCall(
      span({ 'gen_ai.usage.input_tokens': 1n, 'agentmeter.tool.arguments_hash': 'x' }),
      stripe,
    );
    expect(model).not.toHaveProperty('argsHashProblem');
  });

  it('keeps only the host of an HTTP client span to a priced host, never its URL', () => {
    const client = (attrs: Record<string, AttrValue>) => span(attrs, { kind: SPAN_KIND_CLIENT });
    const byAddress = extractCall(
      client({
        'http.request.method': 'POST',
        'server.address': 'API.Stripe.com.',
        'url.full': 'https://api.stripe.com/v1/charges?key=sk_live',
      }),
      stripe,
    );
    expect(byAddress.kind === 'call' && byAddress.call).toMatchObject({
      kind: 'api',
      operation: 'http',
      apiHost: 'api.stripe.com',
      tool: null,
      tokens: null,
    });
    expect(
      JSON.stringify(byAddress, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)),
    ).not.toContain('sk_live');
    const byUrl = extractCall(
      client({ 'http.method': 'GET', 'http.url': 'https://user:pw@api.stripe.com:8443/x?q=1' }),
      stripe,
    );
    expect(byUrl.kind === 'call' && byUrl.call.apiHost).toBe('api.stripe.com');
    // Unpriced hosts, server spans and spans without a method are no calls.
    expect(
      extractCall(client({ 'http.request.method': 'GET', 'server.address': 'example.com' }), stripe)
        .kind,
    ).toBe('none');
    expect(
      extractCall(
        span({ 'http.request.method': 'GET', 'server.address': 'api.stripe.com' }),
        stripe,
      ).kind,
    ).toBe('none');
    expect(extractCall(client({ 'server.address': 'api.stripe.com' }), stripe).kind).toBe('none');
  });

  it('normalises hosts to lower-case DNS names and drops what the ledger cannot hold', () => {
    expect(normaliseHost('Api.Example.COM.')).toBe('api.example.com');
    expect(normaliseHost('10.0.0.1')).toBe('10.0.0.1');
    expect(normaliseHost('::1')).toBeNull();
    expect(normaliseHost('a b')).toBeNull();
    expect(normaliseHost(`${'a'.repeat(250)}.com`)).toBeNull();
  });
});
