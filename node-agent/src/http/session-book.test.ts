import { describe, expect, it } from 'vitest';
import { zeroUsage, type CallRecord } from '@agentmeter/crds';
import { modelCall } from '../../../crds/src/ledger/fixtures.ts';
import type { TickBatch } from '../batches/tick-batcher.ts';
import type { PodMeta } from '../pods/pod-meta.ts';
import { SessionBook } from './session-book.ts';
import { sessionView } from './sessions-api.ts';

const meta: PodMeta = {
  uid: 'u1',
  namespace: 'team',
  name: 'runner',
  phase: 'Running',
  annotations: {},
  labels: {},
  podIPs: [],
  hostNetwork: false,
  terminated: false,
};
const session = { namespace: 'team', id: 's1' };

function batch(cpuNs: bigint, costNano: bigint): TickBatch {
  return {
    tick: 't',
    bodies: [],
    shares: [{ meta, session, usage: { ...zeroUsage(), cpuNs }, costNano, currency: 'USD' }],
    calls: [],
  };
}

/** A priced gpt-5 call of the test pod's session; `over` gives what differs. */
const call = (n: number, over: Partial<CallRecord>): CallRecord =>
  modelCall({
    spanId: n.toString(16).padStart(16, '0'),
    parentSpanId: null,
    model: 'gpt-5',
    tokens: { input: '1000', output: '100', cacheRead: '800', cacheCreation: '0', reasoning: '10' },
    costNano: '7',
    rate: 'gpt-5',
    ...over,
  });

describe('SessionBook', () => {
  it('sums written batches and says up to which ledger seq', () => {
    const book = new SessionBook();
    expect(book.ledgerSeq).toBe(0n);
    book.apply(batch(10n, 3n), 1n, 52n);
    book.apply(batch(5n, 2n), 2n, 104n);
    expect(book.ledgerSeq).toBe(104n);
    const record = book.get('team', 's1');
    expect(record?.usage.cpuNs).toBe(15n);
    expect(
      sessionView(record as NonNullable<typeof record>, 'node-a', false, book.ledgerSeq),
    ).toMatchObject({
      session,
      usage: { cpuNs: '15' },
      cost: { infrastructure: { USD: '0.000000005' }, total: { USD: '0.000000005' } },
      ledgerSeq: '104',
    });
  });

  it('sums calls per model, tool and host; the total is infrastructure plus calls exactly', () => {
    const book = new SessionBook();
    const tool = { kind: 'tool' as const, operation: 'execute_tool', model: null, tokens: null };
    book.apply(
      {
        ...batch(10n, 3n),
        calls: [
          {
            pod: { uid: 'u1', namespace: 'team', name: 'runner' },
            session,
            currency: 'USD',
            calls: [
              call(1, {}),
              call(2, { costNano: '5' }),
              call(3, {
                ...tool,
                tool: { name: 'web_search', type: null, callId: null },
                costNano: '11',
                rate: 'web_search',
              }),
              call(4, {
                ...tool,
                tool: { name: 'shell', type: null, callId: null },
                costNano: null,
                rate: null,
                unpriced: 'no-tool-rate',
              }),
              call(5, {
                kind: 'api',
                operation: 'http',
                provider: null,
                model: null,
                tokens: null,
                apiHost: 'api.stripe.com',
                costNano: '13',
                rate: 'api.stripe.com',
              }),
            ],
          },
          // Calls of spans without a session are the namespace's, in no session view.
          {
            pod: { uid: 'u1', namespace: 'team', name: 'runner' },
            session: null,
            currency: 'USD',
            calls: [call(6, {})],
          },
        ],
      },
      1n,
      9n,
    );
    const record = book.get('team', 's1');
    expect(sessionView(record as NonNullable<typeof record>, 'node-a', false, 9n)).toMatchObject({
      tokens: [
        {
          model: 'gpt-5',
          calls: '2',
          inputTokens: '2000',
          outputTokens: '200',
          cacheReadTokens: '1600',
          reasoningTokens: '20',
          cost: { USD: '0.000000012' },
        },
      ],
      tools: [
        { name: 'shell', calls: '1', unpricedCalls: '1', cost: {} },
        { name: 'web_search', calls: '1', unpricedCalls: '0', cost: { USD: '0.000000011' } },
      ],
      apis: [{ host: 'api.stripe.com', calls: '1', cost: { USD: '0.000000013' } }],
      cost: {
        infrastructure: { USD: '0.000000003' },
        tokens: { USD: '0.000000012' },
        tools: { USD: '0.000000011' },
        apis: { USD: '0.000000013' },
        // 3 + 12 + 11 + 13
        total: { USD: '0.000000039' },
      },
    });
  });
});
