import { describe, expect, it } from 'vitest';
import { ChainFailureEvents } from './chain-failures.ts';
import { costPolicy, recordingEvents } from './test-support.ts';

const broken = (node: string) => ({
  node,
  failure: { seq: 7n, reason: 'hash-mismatch', detail: 'entry 7 does not hash to its successor' },
});

describe('ChainFailureEvents', () => {
  it('records one Warning per policy when a chain starts failing, again only after it recovered', async () => {
    const events = recordingEvents();
    const chains = new ChainFailureEvents(events);
    const policies = [costPolicy('a'), costPolicy('b')];
    await chains.report([broken('n1')], policies);
    expect(events.recorded.map((e) => [e.ref.name, e.input.reason])).toEqual([
      ['a', 'LedgerChainBroken'],
      ['b', 'LedgerChainBroken'],
    ]);
    expect(events.recorded[0]?.input.note).toContain(
      'node n1 does not verify (hash-mismatch at seq 7',
    );
    await chains.report([broken('n1')], policies);
    expect(events.recorded).toHaveLength(2);
    await chains.report([], policies);
    await chains.report([broken('n1')], policies);
    expect(events.recorded).toHaveLength(4);
  });
});
