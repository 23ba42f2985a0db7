import { describe, expect, it } from 'vitest';
import { formatMoney, parseMoney } from '@agentmeter/crds';
import { newNamespaceAccum } from '../budgets/state.ts';
import type { ClosedPeriod } from '../budgets/state.ts';
import { buildReports } from './build.ts';

function closed(n: number): ClosedPeriod {
  const namespaces = new Map();
  for (let i = 0; i < n; i++) {
    const a = newNamespaceAccum();
    a.cost.cpu = BigInt(i * 1000 + 1);
    a.cost.tokens = 7n;
    a.input = 10n;
    namespaces.set(`ns-${i.toString().padStart(5, '0')}`, a);
  }
  const heads = Array.from({ length: 500 }, (_, i) => ({
    node: `node-${i}`,
    seq: BigInt(i),
    hash: 'f'.repeat(64),
  }));
  return {
    spec: 'Monthly/UTC',
    budgets: ['b'],
    start: Date.parse('2026-05-01T00:00:00Z'),
    end: Date.parse('2026-06-01T00:00:00Z'),
    generation: 3,
    heads,
    namespaces,
  };
}

describe('buildReports', () => {
  it('names, labels and totals one shard', () => {
    const [r, ...rest] = buildReports({
      policy: 'team',
      budget: 'b',
      currency: 'USD',
      closed: closed(2),
      sessions: new Map([
        ['ns-00000', 3],
        ['ns-00001', 1],
      ]),
    });
    expect(rest).toEqual([]);
    expect(r?.metadata.name).toBe('team-b-20260501-0');
    expect(r?.spec.totals.cost).toMatchObject({
      total: formatMoney(1n + 1001n + 14n),
      cpu: formatMoney(1002n),
      tokens: formatMoney(14n),
    });
    expect(r?.spec.totals.sessions).toBe(4);
    expect(r?.spec.namespaces.map((n) => n.sessions)).toEqual([3, 1]);
    expect(r?.spec.policy).toEqual({ name: 'team', generation: 3, budget: 'b' });
  });
  it('shards 10,000 namespaces under 1 MiB each, covering every namespace once', () => {
    const reports = buildReports({
      policy: 'team',
      budget: 'b',
      currency: 'USD',
      closed: closed(10_000),
      sessions: new Map(),
    });
    expect(reports.length).toBeGreaterThanOrEqual(10);
    let sum = 0n;
    const seen = new Set<string>();
    for (const r of reports) {
      expect(JSON.stringify(r).length).toBeLessThan(1024 * 1024);
      expect(r.spec.shard.count).toBe(reports.length);
      for (const ns of r.spec.namespaces) {
        seen.add(ns.namespace);
        sum += parseMoney(ns.cost.total);
      }
    }
    expect(seen.size).toBe(10_000);
    expect(formatMoney(sum)).toBe(reports[0]?.spec.totals.cost.total);
  });
});
