import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkpointBody, recoverBaseline } from './counter-state.ts';
import { LedgerStore } from './segment-store.ts';

describe('counter baseline in the ledger', () => {
  it('recovers the counters of the last durable checkpoint, exactly, beyond 2^53', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agentmeter-baseline-'));
    try {
      const store = await LedgerStore.open({ dir, identity: { node: 'n', agentId: 'a' } });
      expect(await recoverBaseline(store)).toBeNull();
      const time = { start: '1', end: '2' };
      const big = (1n << 64n) - 1n;
      await store.append([
        checkpointBody('t1', time, [{ key: 'p/1', podUid: 'p', counters: { cpu: 5n } }]),
      ]);
      await store.append([
        checkpointBody('t2', time, [
          { key: 'p/1', podUid: 'p', counters: { cpu: big, io: 7n } },
          { key: 'node', podUid: null, counters: { cpu: 9n } },
        ]),
      ]);
      await store.append([{ kind: 'marker', time, event: 'agent-start', detail: {} }]);
      await store.close();
      const reopened = await LedgerStore.open({ dir, identity: { node: 'n', agentId: 'b' } });
      const baseline = await recoverBaseline(reopened);
      await reopened.close();
      expect(baseline).toMatchObject({ seq: 2n, tick: 't2' });
      expect(baseline?.cgroups.get('p/1')?.counters).toEqual({ cpu: big, io: 7n });
      expect([...(baseline?.cgroups.keys() ?? [])]).toEqual(['node', 'p/1']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a negative counter', () => {
    expect(() =>
      checkpointBody('t', { start: '1', end: '1' }, [
        { key: 'k', podUid: null, counters: { c: -1n } },
      ]),
    ).toThrow(/negative/);
  });
});
