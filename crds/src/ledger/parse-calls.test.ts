import { describe, expect, it } from 'vitest';
import { sealEntry } from './chain.ts';
import { LedgerFormatError } from './errors.ts';
import { callsBody, draft, modelCall } from './fixtures.ts';
import { MAX_CALLS_PER_ENTRY } from './limits.ts';
import { conservationViolation, parseEntry } from './parse.ts';
import { GENESIS_PREV } from './types.ts';
import type { CallsBody, LedgerEntry } from './types.ts';

const calls = sealEntry(draft(callsBody()), GENESIS_PREV, 1n);

/** The calls sample with the member at `path` set (removed when `value` is undefined). */
function withValue(path: readonly (string | number)[], value: unknown): unknown {
  const copy = structuredClone(calls) as unknown as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path.at(-1) as string | number;
  if (value === undefined) Reflect.deleteProperty(node, last);
  else node[last] = value;
  return copy;
}

function refusal(json: unknown): LedgerFormatError {
  try {
    parseEntry(json);
  } catch (error) {
    if (error instanceof LedgerFormatError) return error;
    throw error;
  }
  throw new Error('parseEntry accepted the value');
}

describe('parseEntry: calls', () => {
  it('accepts the sample calls entry unchanged', () => {
    expect(parseEntry(JSON.parse(JSON.stringify(calls)))).toEqual(calls);
  });

  it('accepts an unpriced entry whose calls are all no-policy', () => {
    const body: CallsBody = callsBody({
      session: null,
      cost: null,
      priced: false,
      calls: callsBody().calls.map((c) => ({
        ...c,
        costNano: null,
        rate: null,
        unpriced: 'no-policy',
      })),
    });
    expect(() => sealEntry(draft(body), GENESIS_PREV, 1n)).not.toThrow();
  });

  const c0 = ['calls', 0] as const;
  const c1 = ['calls', 1] as const;
  const c2 = ['calls', 2] as const;
  it.each([
    [
      'an upper-case trace id',
      [...c0, 'traceId'],
      '4BF92F3577B34DA6A3CE929D0E0E4736',
      '$.calls[0].traceId',
    ],
    ['an all-zero trace id', [...c0, 'traceId'], '0'.repeat(32), '$.calls[0].traceId'],
    ['a short span id', [...c0, 'spanId'], '00f067aa0ba902b', '$.calls[0].spanId'],
    ['a bad parent span id', [...c0, 'parentSpanId'], 'zz', '$.calls[0].parentSpanId'],
    ['a float token count', [...c0, 'tokens', 'input'], '100.0', '$.calls[0].tokens.input'],
    ['a JSON number token count', [...c0, 'tokens', 'output'], 5, '$.calls[0].tokens.output'],
    [
      'a missing token field',
      [...c0, 'tokens', 'reasoning'],
      undefined,
      '$.calls[0].tokens.reasoning',
    ],
    ['an unknown call kind', [...c0, 'kind'], 'agent', '$.calls[0].kind'],
    ['an operation with a space', [...c0, 'operation'], 'chat completion', '$.calls[0].operation'],
    ['tokens on a tool call', [...c1, 'tokens'], modelCall().tokens, '$.calls[1].tokens'],
    ['a tool call without a tool', [...c1, 'tool'], null, '$.calls[1].tool'],
    [
      'a tool on a model call',
      [...c0, 'tool'],
      { name: 'x', type: null, callId: null },
      '$.calls[0].tool',
    ],
    [
      'an API host with a scheme',
      [...c2, 'apiHost'],
      'https://api.stripe.com',
      '$.calls[2].apiHost',
    ],
    ['an API host with a path', [...c2, 'apiHost'], 'api.stripe.com/v1', '$.calls[2].apiHost'],
    ['an API host with a query', [...c2, 'apiHost'], 'api.stripe.com?k=1', '$.calls[2].apiHost'],
    ['an API host with a port', [...c2, 'apiHost'], 'api.stripe.com:443', '$.calls[2].apiHost'],
    [
      'an API host with credentials',
      [...c2, 'apiHost'],
      'u:p@api.stripe.com',
      '$.calls[2].apiHost',
    ],
    ['an API host too long', [...c2, 'apiHost'], `${'a.'.repeat(127)}ab`, '$.calls[2].apiHost'],
    ['an API call without a host', [...c2, 'apiHost'], null, '$.calls[2].apiHost'],
    ['a cost without a rate', [...c0, 'rate'], null, '$.calls[0].rate'],
    ['a rate without a cost', [...c1, 'rate'], 'web_search', '$.calls[1].rate'],
    ['a priced call with a reason', [...c0, 'unpriced'], 'no-model-rate', '$.calls[0].unpriced'],
    ['an unknown reason', [...c1, 'unpriced'], 'free', '$.calls[1].unpriced'],
    ['a reason of another kind', [...c1, 'unpriced'], 'no-model-rate', '$.calls[1].unpriced'],
    ['no-policy in a priced entry', [...c1, 'unpriced'], 'no-policy', '$.calls[1].unpriced'],
    ['a negative cost', [...c0, 'costNano'], '-1', '$.calls[0].costNano'],
    ['a call ending before it starts', [...c0, 'end'], '1', '$.calls[0]'],
    ['an unknown call field', [...c0, 'prompt'], 'hello', '$.calls[0].prompt'],
    ['no calls', ['calls'], [], '$.calls'],
    ['a duplicate span', ['calls'], [modelCall(), modelCall()], '$.calls[1]'],
  ] as const)('refuses %s', (_name, path, value, at) => {
    const error = refusal(withValue(path, value));
    expect(error.path).toBe(at);
    expect(error.seq).toBe(1n);
  });

  it('refuses a priced call in an entry no policy priced', () => {
    const body = callsBody({ cost: null, priced: false });
    expect(() => sealEntry(draft(body), GENESIS_PREV, 1n)).toThrow(/costNano|no-policy/);
  });

  it(`refuses more than ${MAX_CALLS_PER_ENTRY} calls in one entry`, () => {
    const many = Array.from({ length: MAX_CALLS_PER_ENTRY + 1 }, (_, i) =>
      modelCall({ spanId: (i + 1).toString(16).padStart(16, '0') }),
    );
    expect(refusal(withValue(['calls'], many)).path).toBe('$.calls');
  });
});

describe('conservationViolation: calls', () => {
  it("accepts calls whose costs sum to the entry's cost and flags any other sum", () => {
    expect(conservationViolation(calls)).toBeNull();
    const off = withValue(['cost', 'totalNano'], '17900001') as LedgerEntry;
    expect(conservationViolation(off)).toMatch(/do not sum/);
  });
});
