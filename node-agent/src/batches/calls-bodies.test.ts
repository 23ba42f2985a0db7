import { describe, expect, it } from 'vitest';
import type { CallDraft } from '../calls/index.ts';
import { callsBodies } from './calls-bodies.ts';

const HASH = 'ef'.repeat(32);

function toolCall(spanId: string, argsHash: string | null): CallDraft {
  return {
    traceId: 'a'.repeat(32),
    spanId,
    parentSpanId: null,
    startNs: 1_000n,
    endNs: 2_000n,
    kind: 'tool',
    operation: 'execute_tool',
    provider: null,
    model: null,
    tool: { name: 'search', type: 'function', callId: null, argsHash },
    apiHost: null,
    tokens: null,
    errorType: null,
  };
}

describe('callsBodies', () => {
  it('records a tool call argument hash, and leaves the key out when there is none', () => {
    const { records, bodies } = callsBodies(
      '1',
      { start: '0', end: '1' },
      { uid: 'u', namespace: 'ns', name: 'p' },
      { namespace: 'ns', id: 's' },
      [toolCall('1'.repeat(16), HASH), toolCall('2'.repeat(16), null)],
      null,
    );
    expect(records.map((r) => r.tool)).toEqual([
      { name: 'search', type: 'function', callId: null, argsHash: HASH },
      { name: 'search', type: 'function', callId: null },
    ]);
    expect(bodies.map((b) => b.calls)).toEqual([records]);
    expect(JSON.stringify(bodies)).toContain(`"argsHash":"${HASH}"`);
  });
});

describe('callsBodies allocation tags', () => {
  const pricing = {
    ref: {
      policy: { name: 'p', generation: '3' },
      currency: 'USD',
      tags: { team: 'red' },
    },
    price: () => ({ costNano: 5n, rate: 'search', unpriced: null }),
  };
  const tagged = (spanId: string, agent: string | undefined): CallDraft => ({
    ...toolCall(spanId, null),
    ...(agent === undefined ? {} : { spanTags: { agent } }),
  });

  it("writes one entry per span-tag set, each with the policy's label tags, totals per entry", () => {
    const { records, bodies } = callsBodies(
      '1',
      { start: '0', end: '1' },
      { uid: 'u', namespace: 'ns', name: 'p' },
      { namespace: 'ns', id: 's' },
      [
        tagged('1'.repeat(16), 'planner'),
        tagged('2'.repeat(16), 'coder'),
        tagged('3'.repeat(16), 'planner'),
        tagged('4'.repeat(16), undefined),
      ],
      pricing,
    );
    expect(records).toHaveLength(4);
    expect(bodies.map((b) => [b.tags, b.calls.map((c) => c.spanId[0]), b.cost?.totalNano])).toEqual(
      [
        [{ agent: 'planner', team: 'red' }, ['1', '3'], '10'],
        [{ agent: 'coder', team: 'red' }, ['2'], '5'],
        [{ team: 'red' }, ['4'], '5'],
      ],
    );
    // Name order, as the ledger writer's fast path expects.
    expect(Object.keys(bodies[0]?.tags ?? {})).toEqual(['agent', 'team']);
  });

  it('records no tags for calls no policy priced', () => {
    const { bodies } = callsBodies(
      '1',
      { start: '0', end: '1' },
      { uid: 'u', namespace: 'ns', name: 'p' },
      null,
      [tagged('1'.repeat(16), 'planner')],
      null,
    );
    expect(bodies).toHaveLength(1);
    expect(bodies[0]).not.toHaveProperty('tags');
  });
});
