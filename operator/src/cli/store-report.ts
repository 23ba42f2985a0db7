// `agentmeter report --by namespace|tag:NAME|model|tool|api`: spend of a policy in a period from
// the store, per group, as a table, CSV, JSON or FinOps FOCUS CSV.
import { formatMoney, formatMoneyForDisplay, TAG_NAME_PATTERN_SOURCE } from '@agentmeter/crds';
import type { Breakdown, DailyRow, DayRange } from '../store/accounting.ts';
import { FOCUS_COLUMNS, focusRecords } from './focus.ts';
import { renderCsv, renderTable } from './format.ts';
import { dayStart } from './period.ts';
import { UsageError } from './usage-error.ts';

export type StoreReportFormat = 'table' | 'csv' | 'json' | 'focus';

export interface StoreReportOptions {
  readonly policy: string;
  readonly currency: string;
  readonly range: DayRange;
  readonly by: Breakdown;
  readonly format: StoreReportFormat;
}

export function parseBreakdown(text: string): Breakdown {
  if (text === 'namespace' || text === 'model' || text === 'tool' || text === 'api') {
    return { by: text };
  }
  if (text.startsWith('tag:')) {
    const tag = text.slice(4);
    if (!TAG_NAME.test(tag)) {
      throw new UsageError(
        `--by tag:NAME needs the name of a CostPolicy allocation tag (lowercase letters, digits, "-", "_" and ".", starting with a letter), not "${tag}"`,
      );
    }
    return { by: 'tag', tag };
  }
  throw new UsageError(`--by must be namespace, tag:NAME, model, tool or api, not "${text}"`);
}

const TAG_NAME = new RegExp(TAG_NAME_PATTERN_SOURCE);

interface GroupTotal {
  readonly key: string | null;
  costNano: bigint;
  calls: bigint;
}

/** The period's total per group, costliest first (ties by name, untagged last). */
function totals(rows: readonly DailyRow[]): GroupTotal[] {
  const byKey = new Map<string | null, GroupTotal>();
  for (const r of rows) {
    const t = byKey.get(r.key) ?? { key: r.key, costNano: 0n, calls: 0n };
    t.costNano += r.costNano;
    t.calls += r.calls;
    byKey.set(r.key, t);
  }
  const name = (k: string | null): string => k ?? '\uffff';
  return [...byKey.values()].sort((a, b) =>
    a.costNano !== b.costNano
      ? a.costNano > b.costNano
        ? -1
        : 1
      : name(a.key) < name(b.key)
        ? -1
        : 1,
  );
}

export function formatStoreReport(rows: readonly DailyRow[], o: StoreReportOptions): string {
  if (o.format === 'focus') {
    const records = focusRecords(rows, o);
    return renderCsv(
      FOCUS_COLUMNS,
      records.map((r) => FOCUS_COLUMNS.map((c) => r[c] ?? '')),
    );
  }
  const group = o.by.by === 'tag' ? o.by.tag : o.by.by;
  const start = dayStart(o.range.fromDay);
  const end = dayStart(o.range.toDay);
  const groups = totals(rows);
  if (o.format === 'json') {
    const list = groups.map((t) => ({
      policy: o.policy,
      periodStart: start,
      periodEnd: end,
      [group]: t.key,
      currency: o.currency,
      cost: formatMoney(t.costNano),
      calls: t.calls.toString(),
    }));
    return `${JSON.stringify(list, null, 2)}\n`;
  }
  const header = ['policy', 'periodStart', 'periodEnd', group, 'currency', 'cost', 'calls'];
  const body = groups.map((t) => [
    o.policy,
    start,
    end,
    t.key ?? '',
    o.currency,
    o.format === 'table' ? formatMoneyForDisplay(t.costNano, o.currency) : formatMoney(t.costNano),
    t.calls.toString(),
  ]);
  return o.format === 'csv'
    ? renderCsv(header, body)
    : renderTable(
        header.map((h) => h.toUpperCase()),
        body,
      );
}
