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
