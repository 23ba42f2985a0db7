// `agentmeter report` for the open periods reads the operator's store: the fold's rounds are
// committed to a real node:sqlite store as the operator commits them (state without sums, budget
// sums beside it), and the rows equal what the fold counted, to the nano-unit.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatMoney } from '@agentmeter/crds';
import type { CostPolicy, LedgerPosition } from '@agentmeter/crds';
import { indexPage, PolicyFold } from '../budgets/accumulate.ts';
import { rfc3339 } from '../budgets/periods.ts';
import { encodeState, emptyState } from '../budgets/state.ts';
import { budgets, callsBody, chainOf, view } from '../budgets/test-ledger.ts';
import { openStore } from '../store/open.ts';
import {
  budgetDeltas,
  cursorMoves,
  periodSessionRows,
  RoundRecorder,
  withoutSums,
} from '../store/round.ts';
import { currentRows } from './report.ts';

const T0 = Date.parse('2026-12-02T10:00:00Z');
const dir = mkdtempSync(join(os.tmpdir(), 'agentmeter-report-current-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const policy = {
  apiVersion: 'agentmeter.dev/v1alpha1',
  kind: 'CostPolicy',
  metadata: { name: 'p' },
  spec: { currency: 'USD', rates: {}, budgets },
} as unknown as CostPolicy;

describe('report of the open periods from the store', () => {
  it('lists every session of the Session budget and every namespace as the fold counted', async () => {
    const store = await openStore({ engine: 'sqlite', path: join(dir, 'store.db') });
    const entries = chainOf('a', [
      callsBody({ namespace: 'n1', session: 's1', calls: [{ atMs: T0, nano: 1_500n }] }, 1),
      callsBody({ namespace: 'n1', session: 's2', calls: [{ atMs: T0, nano: 20n }] }, 2),
      callsBody({ namespace: 'n2', session: 's1', calls: [{ atMs: T0, nano: 7n }] }, 3),
      callsBody({ namespace: 'n1', session: 's1', calls: [{ atMs: T0 + 1000, nano: 3n }] }, 4),
    ]);
    const recorder = new RoundRecorder();
    const fold = new PolicyFold(emptyState(), [], view, T0, recorder.record);
    fold.add(indexPage('a', { node: 'a', seq: 0n, hash: '0'.repeat(64) }, entries));
    const r = fold.finish();
    const none: LedgerPosition[] = [];
    await store.commit(
      recorder.commit(
        'p',
        BigInt(T0) * 1_000_000n,
        budgetDeltas(emptyState(), r.state),
        cursorMoves(none, r.cursors),
        {
          state: encodeState(withoutSums(r.state)),
          countFromMs: 0,
          periodSessions: periodSessionRows(r.periodSessions),
        },
      ),
    );

    const sessions = await currentRows(store, policy, true);
    const sess = r.state.budgets.get('sess');
    expect(sessions.map((x) => [x.namespace, x.session, x.total])).toEqual(
      [...(sess?.sums ?? [])].sort().map(([k, nano]) => [...k.split('/'), formatMoney(nano)]),
    );
    expect(sessions.map((x) => x.total)).toEqual(['0.000001503', '0.00000002', '0.000000007']);
    expect(sessions[0]?.periodStart).toBe('2026-11-30T00:00:00Z');

    // One row per namespace in each period spec's open period (Monthly, Daily in Berlin, Weekly).
    const namespaces = await currentRows(store, policy, false);
    expect(namespaces).toHaveLength(3 * 2);
    for (const accum of r.state.reports.values()) {
      const inPeriod = namespaces.filter((x) => x.periodStart === rfc3339(accum.start));
      expect(inPeriod.map((x) => [x.namespace, x.total, x.tokens, x.sessions])).toEqual([
        ['n1', '0.000001523', '0.000001523', 2],
        ['n2', '0.000000007', '0.000000007', 1],
      ]);
    }

    // A policy the store holds nothing of has no open-period rows.
    const other = { ...policy, metadata: { name: 'q' } } as CostPolicy;
    expect(await currentRows(store, other, true)).toEqual([]);
    expect(await currentRows(store, other, false)).toEqual([]);
    await store.close();
  });
});
