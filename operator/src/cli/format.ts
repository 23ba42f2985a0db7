// Output of `agentmeter report`: pure formatting of report rows. CSV and JSON carry exact
// decimal strings (for chargeback); the table rounds to the currency's minor unit for people.
import { formatMoneyForDisplay, parseMoney } from '@agentmeter/crds';

export interface ReportRow {
  readonly policy: string;
  readonly period: 'current' | 'closed';
  readonly periodStart: string;
  readonly periodEnd: string;
  readonly namespace: string;
  /** Only in per-session output: the session id within the namespace. */
  readonly session?: string;
  readonly currency: string;
  readonly total: string;
  readonly cpu?: string;
  readonly memory?: string;
  readonly gpu?: string;
  readonly io?: string;
  readonly network?: string;
  readonly tokens?: string;
  readonly tools?: string;
  readonly apis?: string;
  readonly inputTokens?: number;
  readonly outputTokens?: number;
  readonly sessions?: number;
}

export type OutputFormat = 'table' | 'csv' | 'json';

const COLUMNS = [
  'policy',
  'period',
  'periodStart',
  'periodEnd',
  'namespace',
  'session',
  'currency',
  'total',
  'cpu',
  'memory',
  'gpu',
  'io',
  'network',
  'tokens',
  'tools',
  'apis',
  'inputTokens',
  'outputTokens',
  'sessions',
] as const;
const MONEY = new Set([
  'total',
  'cpu',
  'memory',
  'gpu',
  'io',
  'network',
  'tokens',
  'tools',
  'apis',
]);

export function csvCell(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function formatReport(rows: readonly ReportRow[], format: OutputFormat): string {
  const perSession = rows.some((r) => r.session !== undefined);
  const columns = COLUMNS.filter((c) => c !== 'session' || perSession);
  if (format === 'json') return `${JSON.stringify(rows, null, 2)}\n`;
  const cell = (row: ReportRow, column: (typeof COLUMNS)[number], display: boolean): string => {
    const v = row[column];
    if (v === undefined) return '';
    if (display && MONEY.has(column))
      return formatMoneyForDisplay(parseMoney(String(v)), row.currency);
    return String(v);
  };
  if (format === 'csv') {
    return renderCsv(
      columns,
      rows.map((r) => columns.map((c) => cell(r, c, false))),
    );
  }
  return renderTable(
    columns.map((c) => c.toUpperCase()),
    rows.map((r) => columns.map((c) => cell(r, c, true))),
  );
}

export function renderCsv(header: readonly string[], body: readonly (readonly string[])[]): string {
  return [header, ...body].map((line) => line.map(csvCell).join(',')).join('\n') + '\n';
}

/** Columns padded to their widest cell, for people. */
export function renderTable(
  header: readonly string[],
  body: readonly (readonly string[])[],
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  return (
    [header, ...body]
      .map((line) =>
        line
          .map((v, i) => v.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}
