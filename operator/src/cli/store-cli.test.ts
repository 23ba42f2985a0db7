// The store-backed commands end to end on node:sqlite: a test month (November 2026) committed
// through the store, read back by `report --by` (all formats, FOCUS checked column by column
// against the FOCUS 1.0 specification) and `sessions --top`.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RollupDelta, SessionDelta } from '../store/accounting.ts';
import { seedStore } from '../../../test/support/seed-store.ts';
import { runReport } from './report.ts';
import { runSessions } from './sessions.ts';
import { UsageError } from './usage-error.ts';

const DAY_MS = 86_400_000;
const NOV_1 = Date.UTC(2026, 10, 1) / DAY_MS;
const NOW = Date.UTC(2026, 11, 7, 12); // "last" month is November
const DAY_NS = 86_400_000_000_000n;
const dir = mkdtempSync(join(os.tmpdir(), 'agentmeter-store-cli-'));
const path = join(dir, 'store.db');

function rollup(
  day: number,
  namespace: string,
  team: string | undefined,
  kind: RollupDelta['kind'],
  item: string,
  cost: bigint,
  calls: bigint,
): RollupDelta {
  return {
    day,
    namespace,
    tags: team === undefined ? {} : { team },
    kind,
    item,
    costNano: cost,
    calls,
    inputTokens: 0n,
    outputTokens: 0n,
  };
}

function session(namespace: string, id: string, day: number, tokens: bigint): SessionDelta {
  return {
    namespace,
    sessionId: id,
    day,
    infraNano: 1n,
    tokensNano: tokens,
    toolsNano: 0n,
    apisNano: 0n,
    calls: 1n,
    unpricedCalls: 0n,
    inputTokens: 3n,
    outputTokens: 2n,
    firstNs: BigInt(day) * DAY_NS,
    lastNs: BigInt(day) * DAY_NS + 5n,
  };
}

beforeAll(async () => {
  await seedStore(path, {
    sessions: [
      session('team-a', 's1', NOV_1, 5_000_000_000n),
      session('team-a', 's2', NOV_1 + 1, 7n),
      session('team-b', 's3', NOV_1 + 29, 2_500_000_000n),
      session('team-b', 's4', NOV_1 + 30, 9_000_000_000n), // December 1st: not in November
    ],
    rollups: [
      rollup(NOV_1, 'team-a', 'red', 'model', 'gpt-5', 1_250_000_000n, 3n),
      rollup(NOV_1, 'team-a', 'red', 'tool', 'search', 10n, 2n),
      rollup(NOV_1 + 1, 'team-a', 'red', 'infra', '', 3n, 0n),
      rollup(NOV_1 + 29, 'team-b', undefined, 'model', 'gpt-5', 500_000_000n, 1n),
      rollup(NOV_1 + 30, 'team-b', 'blue', 'model', 'gpt-5', 1n, 1n),
    ],
  });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(command: typeof runReport, args: string): Promise<string> {
  let text = '';
  await command([...args.split(' '), '--store', path], (s) => (text += s), NOW);
  return text;
}

function parseCsv(text: string): Record<string, string>[] {
  // The export quotes only cells holding commas or quotes (Tags' JSON); enough for these rows.
  const lines = text.trimEnd().split('\n');
  const split = (line: string): string[] =>
    [...line.matchAll(/("(?:[^"]|"")*"|[^,]*)(,|$)/g)]
      .filter((m) => m.index < line.length || m[0] !== '')
      .map((m) => {
        const v = m[1] ?? '';
        return v.startsWith('"') ? v.slice(1, -1).replace(/""/g, '"') : v;
      });
  const header = split(lines[0] ?? '');
  return lines.slice(1).map((l) => {
    const cells = split(l);
    return Object.fromEntries(header.map((h, i) => [h, cells[i] ?? '']));
  });
}

// FOCUS 1.0 (FinOps Open Cost and Usage Specification), the columns it makes mandatory in a
// cost-and-usage dataset, each with the format the specification requires of it.
const DECIMAL = /^-?\d+(\.\d+)?$/;
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const CURRENCY = /^[A-Z]{3}$/;
const TEXT = /^.+$/;
const REQUIRED: Record<string, { format: RegExp; nullable: boolean }> = {
  BilledCost: { format: DECIMAL, nullable: false },
  BillingAccountId: { format: TEXT, nullable: false },
  BillingAccountName: { format: TEXT, nullable: true },
  BillingCurrency: { format: CURRENCY, nullable: false },
  BillingPeriodEnd: { format: DATETIME, nullable: false },
  BillingPeriodStart: { format: DATETIME, nullable: false },
  ChargeCategory: { format: /^(Usage|Purchase|Tax|Credit|Adjustment)$/, nullable: false },
  ChargeClass: { format: /^Correction$/, nullable: true },
  ChargeDescription: { format: TEXT, nullable: true },
  ChargePeriodEnd: { format: DATETIME, nullable: false },
  ChargePeriodStart: { format: DATETIME, nullable: false },
  ContractedCost: { format: DECIMAL, nullable: false },
  EffectiveCost: { format: DECIMAL, nullable: false },
  InvoiceIssuerName: { format: TEXT, nullable: false },
  ListCost: { format: DECIMAL, nullable: false },
  PricingQuantity: { format: DECIMAL, nullable: true },
  PricingUnit: { format: TEXT, nullable: true },
  ProviderName: { format: TEXT, nullable: false },
  PublisherName: { format: TEXT, nullable: false },
  ServiceCategory: { format: /^AI and Machine Learning$/, nullable: false },
  ServiceName: { format: TEXT, nullable: false },
};

describe('agentmeter report --by (store)', () => {
  it('writes a FOCUS export of the test month with every required column well-formed', async () => {
    const rows = parseCsv(
      await run(runReport, '--by namespace --policy p --period last --format focus'),
    );
    expect(rows).toHaveLength(3); // team-a on two days, team-b on one; December left out
    for (const row of rows) {
      for (const [column, rule] of Object.entries(REQUIRED)) {
        expect(Object.keys(row), column).toContain(column);
        const value = row[column] ?? '';
        if (value === '' && rule.nullable) continue;
        expect(value, column).toMatch(rule.format);
      }
      for (const column of Object.keys(row)) {
        // Columns the specification does not define carry the x_ prefix.
        expect(column in REQUIRED || /^(x_|Sub|Tags$|ChargeFrequency$)/.test(column)).toBe(true);
      }
      expect(row.BillingPeriodStart).toBe('2026-11-01T00:00:00Z');
      expect(row.BillingPeriodEnd).toBe('2026-12-01T00:00:00Z');
      expect(Date.parse(row.ChargePeriodEnd ?? '') - Date.parse(row.ChargePeriodStart ?? '')).toBe(
        DAY_MS,
      );
    }
    expect(rows.map((r) => [r.ChargePeriodStart, r.SubAccountId, r.BilledCost])).toEqual([
      ['2026-11-01T00:00:00Z', 'team-a', '1.25000001'],
      ['2026-11-02T00:00:00Z', 'team-a', '0.000000003'],
      ['2026-11-30T00:00:00Z', 'team-b', '0.5'],
    ]);
  });

  it('groups by a tag, by model and by tool, with exact decimals in CSV and JSON', async () => {
    const byTeam = JSON.parse(
      await run(runReport, '--by tag:team --policy p --period last --format json'),
    ) as Record<string, unknown>[];
    expect(byTeam.map((r) => [r.team, r.cost, r.calls])).toEqual([
      ['red', '1.250000013', '5'],
      [null, '0.5', '1'],
    ]);
    const byModel = await run(runReport, '--by model --policy p --period last --format csv');
    expect(byModel).toBe(
      'policy,periodStart,periodEnd,model,currency,cost,calls\n' +
        'p,2026-11-01T00:00:00Z,2026-12-01T00:00:00Z,gpt-5,USD,1.75,4\n',
    );
    const byTool = await run(runReport, '--by tool --policy p --period 2026-11-01..2026-11-02');
    expect(byTool).toMatch(/^POLICY +PERIODSTART +PERIODEND +TOOL +CURRENCY +COST +CALLS\n/);
    expect(byTool).toMatch(
      /\np +2026-11-01T00:00:00Z +2026-11-02T00:00:00Z +search +USD +0\.00 +2\n$/,
    );
    const focusByTeam = parseCsv(
      await run(runReport, '--by tag:team --policy p --period last --format focus'),
    );
    expect(focusByTeam.map((r) => r.Tags)).toEqual(['{"team":"red"}', '{"team":"red"}', '']);
  });

  it('refuses bad arguments with a usage error', async () => {
    await expect(run(runReport, '--by pod --policy p')).rejects.toThrow(UsageError);
    await expect(run(runReport, '--by tag: --policy p')).rejects.toThrow(/allocation tag/);
    await expect(run(runReport, '--by tag:Team --policy p')).rejects.toThrow(/allocation tag/);
    await expect(run(runReport, '--by model')).rejects.toThrow(/--policy/);
    await expect(
      run(runReport, '--by model --policy p --period 2026-13-01..2026-12-01'),
    ).rejects.toThrow(/not a date/);
    await expect(run(runReport, '--by model --policy p --format xml')).rejects.toThrow(UsageError);
  });
});

describe('agentmeter sessions (store)', () => {
  it('lists the costliest sessions of the period across nodes, optionally of one namespace', async () => {
    const all = JSON.parse(
      await run(runSessions, '--policy p --period last --format json'),
    ) as Record<string, string>[];
    expect(all.map((s) => [s.namespace, s.session, s.total])).toEqual([
      ['team-a', 's1', '5.000000001'],
      ['team-b', 's3', '2.500000001'],
      ['team-a', 's2', '0.000000008'],
    ]);
    const top1 = await run(runSessions, '--policy p --period last --top 1 --format csv');
    expect(top1.split('\n')[1]).toBe('team-a,s1,USD,5.000000001,0.000000001,5,0,0,1,0,3,2');
    const b = JSON.parse(
      await run(runSessions, '--policy p --period current --namespace team-b --format json'),
    ) as Record<string, string>[];
    expect(b.map((s) => s.session)).toEqual(['s4']);
  });

  it('says so when the store path does not exist, and creates nothing', async () => {
    const missing = join(dir, 'typo.db');
    await expect(
      runSessions(['--policy', 'p', '--store', missing], () => undefined, NOW),
    ).rejects.toThrow(/no store at/);
    expect(existsSync(missing)).toBe(false);
  });

  it('refuses a bad --top', async () => {
    await expect(run(runSessions, '--policy p --top 0')).rejects.toThrow(/--top/);
    await expect(run(runSessions, '--policy p --top x')).rejects.toThrow(UsageError);
  });
});
