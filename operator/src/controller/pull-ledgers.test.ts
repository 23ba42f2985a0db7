import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { LedgerPosition } from '@agentmeter/crds';
import { FakeClock } from '../runtime/fake-clock.ts';
import type { AgentApi, LedgerInfo } from '../collect/client.ts';
import { OperatorMetrics } from '../metrics.ts';
import type { PolicyRun } from './policy-run.ts';
import { pullAgent, pullStart, readInfo, type PullDeps } from './pull-ledgers.ts';

const info: LedgerInfo = {
  anchor: { seq: 3n, hash: 'anchor' },
  head: { seq: 10n, hash: 'head' },
  acked: 3n,
};

/** A run whose fold stands at `cursor` on n1 (or has none). */
function runAt(cursor: LedgerPosition | undefined): PolicyRun {
  return { fold: { cursor: () => cursor } } as unknown as PolicyRun;
}

function deps(agentApi: Partial<AgentApi>): PullDeps {
  return {
    agentApi: agentApi as AgentApi,
    metrics: new OperatorMetrics(new Registry()),
    clock: new FakeClock(),
    logger: pino({ level: 'silent' }),
    concurrency: 2,
  };
}

describe('pullStart', () => {
  it('is the lowest cursor of any run, the anchor for a run with none', () => {
    const at = (seq: number): LedgerPosition => ({ node: 'n1', seq: BigInt(seq), hash: `h${seq}` });
    expect(pullStart('n1', info, [runAt(at(8)), runAt(at(5))])).toEqual(at(5));
    expect(pullStart('n1', info, [runAt(at(8)), runAt(undefined)])).toEqual({
      node: 'n1',
      seq: 3n,
      hash: 'anchor',
    });
    expect(pullStart('n1', info, [])).toBeUndefined();
  });
});

describe('readInfo and pullAgent', () => {
  it('takes an agent that does not answer as unreachable', async () => {
    const d = deps({
      info: async () => {
        throw new Error('ECONNREFUSED');
      },
    });
    expect(await readInfo(d, { node: 'n1', url: 'http://n1' })).toBeNull();
  });

  it('asks for no page when every run is at the head', async () => {
    const d = deps({
      page: async () => {
        throw new Error('no page should be asked for');
      },
    });
    const atHead = runAt({ node: 'n1', seq: 10n, hash: 'head' });
    const pulled = await pullAgent(d, { node: 'n1', url: 'http://n1' }, info, [atHead]);
    expect(pulled).toMatchObject({ entries: 0, failure: null });
  });
});
