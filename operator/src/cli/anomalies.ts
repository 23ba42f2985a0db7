// `agentmeter report --anomalies`: what the detectors and guards found, from where the operator
// puts it: the SpendAnomaly and GuardTripped Events on CostPolicies (kept by the apiserver for
// its event TTL) and the sessions the guards hold tripped now (status.guards).
import type { EventsV1Event } from '@kubernetes/client-node';
import type { CostPolicy } from '@agentmeter/crds';
import { renderCsv, renderTable, type OutputFormat } from './format.ts';

export const ANOMALY_REASONS = ['SpendAnomaly', 'GuardTripped'] as const;

export interface AnomalyRow {
  readonly time: string;
  readonly policy: string;
  /** SpendAnomaly or GuardTripped (an Event), or Tripped (a session held now). */
  readonly kind: string;
  readonly subject: string;
  readonly detail: string;
}

const COLUMNS = ['time', 'policy', 'kind', 'subject', 'detail'] as const;

function eventTime(e: EventsV1Event): string {
  const t = e.series?.lastObservedTime ?? e.eventTime ?? e.deprecatedLastTimestamp;
  return t === undefined ? '' : new Date(t).toISOString();
}

/** The anomaly and guard Events on CostPolicies (all, or `policy`'s), oldest first. */
export function eventRows(events: readonly EventsV1Event[], policy?: string): AnomalyRow[] {
  return events
    .filter(
      (e) =>
        e.regarding?.kind === 'CostPolicy' &&
        (policy === undefined || e.regarding.name === policy) &&
        (ANOMALY_REASONS as readonly string[]).includes(e.reason ?? ''),
    )
    .map((e) => ({
      time: eventTime(e),
      policy: e.regarding?.name ?? '',
      kind: e.reason ?? '',
      subject: '',
      detail: e.note ?? '',
    }))
    .sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
}

/** The sessions each policy's guards hold tripped now. */
export function trippedRows(policies: readonly CostPolicy[]): AnomalyRow[] {
  return policies.flatMap((p) =>
    (p.status?.guards?.tripped ?? []).map((t) => ({
      time: t.trippedAt,
      policy: p.metadata.name ?? '',
      kind: 'Tripped',
      subject: t.session,
      detail: `guard ${t.guard} (${t.kind}): ${t.observed} over ${t.limit}${t.tool === undefined ? '' : `, tool ${t.tool}`}; ${t.action} until ${t.until}`,
    })),
  );
}

export function formatAnomalies(rows: readonly AnomalyRow[], format: OutputFormat): string {
  if (format === 'json') return `${JSON.stringify(rows, null, 2)}\n`;
  const body = rows.map((r) => COLUMNS.map((c) => r[c]));
  if (format === 'csv') return renderCsv(COLUMNS, body);
  return renderTable(
    COLUMNS.map((c) => c.toUpperCase()),
    body,
  );
}
