import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { LedgerPosition } from '@agentmeter/crds';
import type { AgentApi } from '../collect/client.ts';
import { acknowledge, lowestCounted } from './acknowledge.ts';
import type { AgentPull } from './pull-ledgers.ts';

const at = (node: string, seq: number): LedgerPosition => ({ node, seq: BigInt(seq), hash: 'h' });
const byNode = (...cs: LedgerPosition[]) => new Map(cs.map((c) => [c.node, c]));

describe('lowestCounted', () => {
  it('is the lowest cursor over all policies', () => {
    expect(lowestCounted('a', [byNode(at('a', 9)), byNode(at('a', 4), at('b', 1))])).toBe(4n);
  });
  it('is undefined while some policy has counted nothing on the node', () => {
    expect(lowestCounted('b', [byNode(at('a', 9)), byNode(at('b', 1))])).toBeUndefined();
    expect(lowestCounted('a', [])).toBeUndefined();
  });
});

describe('acknowledge', () => {
  function pull(node: string, acked: bigint): AgentPull {
    const position = { seq: 0n, hash: 'h' };
    return {
      agent: { node, url: `http://${node}` },
      info: { anchor: position, head: position, acked },
      entries: 0,
      failure: null,
    };
  }

  it('sends each agent the lowest counted seq when it moved past the agent acknowledged one', async () => {
    const acks: [string, bigint][] = [];
    const agentApi = {
      ack: async (agent: { node: string }, seq: bigint) => {
        if (agent.node === 'c') throw new Error('connection refused');
        acks.push([agent.node, seq]);
      },
    } as unknown as AgentApi;
    const deps = { agentApi, logger: pino({ level: 'silent' }), concurrency: 2 };
    await acknowledge(
      deps,
      [pull('a', 3n), pull('b', 5n), pull('c', 0n), pull('d', 0n)],
      [
        [at('a', 7), at('b', 5), at('c', 2)],
        [at('a', 6), at('b', 9), at('c', 2), at('d', 1)],
      ],
    );
    // b: already acknowledged at 5; c: failed (retried next round); d: one policy has nothing.
    expect(acks).toEqual([['a', 6n]]);
  });
});
