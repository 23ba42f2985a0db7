import { describe, expect, it } from 'vitest';
import { zeroUsage } from '@agentmeter/crds';
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
    tokens: [],
  };
}

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
});
