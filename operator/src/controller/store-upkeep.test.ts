// The store's upkeep on a real embedded store under a fake clock: what passed its retention is
// deleted, the rest stays, it runs at most once per interval, and the size metrics follow.
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { OperatorMetrics } from '../metrics.ts';
import { FakeClock } from '../runtime/fake-clock.ts';
import type { SessionDelta } from '../store/accounting.ts';
import { modelCallRecord } from '../../../test/support/call-record.ts';
import { StoreUpkeep, UPKEEP_INTERVAL_MS } from './store-upkeep.ts';
import { memoryStore } from './test-support.ts';

const DAY_MS = 86_400_000;
const NOW = new Date('2026-12-07T12:00:00Z');
const TODAY = Math.floor(NOW.getTime() / DAY_MS);

function session(id: string, day: number): SessionDelta {
  const atNs = BigInt(day * DAY_MS) * 1_000_000n;
  return {
    namespace: 'ns',
    sessionId: id,
    day,
    infraNano: 5n,
    tokensNano: 0n,
    toolsNano: 0n,
    apisNano: 0n,
    calls: 0n,
    unpricedCalls: 0n,
    inputTokens: 0n,
    outputTokens: 0n,
    firstNs: atNs,
    lastNs: atNs,
  };
}

async function value(metrics: OperatorMetrics, name: string, labels: Record<string, string> = {}) {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values as { value: number; labels: Record<string, string> }[] | undefined)?.find(
    (x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l),
  );
  return v?.value;
}

describe('StoreUpkeep', () => {
  it('deletes calls past 30 days and sessions past 5, keeps rollups, once per interval', async () => {
    const store = await memoryStore();
    const rollup = (day: number) => ({
      day,
      namespace: 'ns',
      tags: {},
      kind: 'infra' as const,
      item: '',
      costNano: 7n,
      calls: 0n,
      inputTokens: 0n,
      outputTokens: 0n,
    });
    const call = (span: string, day: number) => {
      const atNs = BigInt(day * DAY_MS) * 1_000_000n;
      return modelCallRecord({
        traceId: '0'.repeat(32),
        spanId: span.padStart(16, '0'),
        startNs: atNs,
        endNs: atNs,
        namespace: 'ns',
        sessionId: 'new',
        pod: 'pod',
        inputTokens: 1n,
        outputTokens: 1n,
        costNano: 3n,
        policyGeneration: 1n,
        tags: {},
      });
    };
    await store.commit({
      policy: 'p',
      atNs: 1n,
      cursors: [],
      // A budget period 40 days ago is past; one 20 days ago may still be open (a month).
      budgets: [TODAY - 40, TODAY - 20].map((day) => ({
        budget: 'b',
        periodStartNs: BigInt(day) * BigInt(DAY_MS) * 1_000_000n,
        scopeKey: 'ns/s',
        nano: 1n,
      })),
      sessions: [session('old', TODAY - 6), session('new', TODAY - 1)],
      periodSessions: [TODAY - 40, TODAY - 20].map((day) => ({
        spec: 'Monthly/UTC',
        periodStartNs: BigInt(day) * BigInt(DAY_MS) * 1_000_000n,
        namespace: 'ns',
        sessionId: 's',
      })),
      rollups: [rollup(TODAY - 400), rollup(TODAY - 1)],
      calls: [call('a1', TODAY - 31), call('a2', TODAY - 29)],
    });
    const clock = new FakeClock(NOW);
    const metrics = new OperatorMetrics(new Registry());
    const upkeep = new StoreUpkeep({
      store,
      metrics,
      clock,
      logger: pino({ level: 'silent' }),
      retention: { calls: 30, sessions: 5, rollups: 800 },
    });
    expect(await upkeep.maybeRun()).toBe(true);
    expect(await value(metrics, 'agentmeter_store_pruned_rows_total', { table: 'calls' })).toBe(1);
    expect(
      await value(metrics, 'agentmeter_store_pruned_rows_total', { table: 'session_totals' }),
    ).toBe(1);
    expect(
      await value(metrics, 'agentmeter_store_pruned_rows_total', { table: 'budget_sums' }),
    ).toBe(1);
    expect(await value(metrics, 'agentmeter_store_rows', { table: 'budget_sums' })).toBe(1);
    expect(
      await value(metrics, 'agentmeter_store_pruned_rows_total', { table: 'period_sessions' }),
    ).toBe(1);
    expect(await value(metrics, 'agentmeter_store_rows', { table: 'period_sessions' })).toBe(1);
    // December's month totals go whole once its first day passed the per-session cut-off.
    expect(
      await value(metrics, 'agentmeter_store_pruned_rows_total', { table: 'session_months' }),
    ).toBe(2);
    expect(await value(metrics, 'agentmeter_store_rows', { table: 'session_months' })).toBe(0);
    expect(await value(metrics, 'agentmeter_store_rows', { table: 'calls' })).toBe(1);
    expect(await value(metrics, 'agentmeter_store_rows', { table: 'session_totals' })).toBe(1);
    expect(await value(metrics, 'agentmeter_store_rows', { table: 'daily_rollups' })).toBe(2);
    expect(await value(metrics, 'agentmeter_store_bytes')).toBeGreaterThan(0);
    expect(await store.session('p', 'ns', 'old')).toBeUndefined();
    expect((await store.session('p', 'ns', 'new'))?.totalNano).toBe(5n);

    // Within the interval nothing runs; a day later the next call row has passed 30 days.
    await clock.advance(UPKEEP_INTERVAL_MS - 1);
    expect(await upkeep.maybeRun()).toBe(false);
    await clock.advance(DAY_MS);
    expect(await upkeep.maybeRun()).toBe(true);
    expect(await value(metrics, 'agentmeter_store_rows', { table: 'calls' })).toBe(1);
    await clock.advance(DAY_MS);
    expect(await upkeep.maybeRun()).toBe(true);
    expect(await value(metrics, 'agentmeter_store_pruned_rows_total', { table: 'calls' })).toBe(2);
    expect(await value(metrics, 'agentmeter_store_rows', { table: 'calls' })).toBe(0);
    expect(await value(metrics, 'agentmeter_store_rows', { table: 'daily_rollups' })).toBe(2);
  });
});
