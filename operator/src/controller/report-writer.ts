// Writes the CostReports of closed periods. A report is an immutable record: AlreadyExists with
// the same content is success (a repeat after a crash), different content is surfaced, not
// overwritten.
import type { Logger } from 'pino';
import { COST_REPORT_GVK } from '@agentmeter/crds';
import { statusCodeOf } from '@agentmeter/kube-client';
import type { CostPolicy, CostReport } from '@agentmeter/crds';
import type { EventRecorder } from '../runtime/index.ts';
import { rfc3339 } from '../budgets/periods.ts';
import type { ClosedPeriod } from '../budgets/state.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { buildReports } from '../reports/build.ts';
import type { AccountingStore } from '../store/accounting.ts';
import { policyRef, type CustomApi } from './policies.ts';

export interface ReportWriterDeps {
  readonly custom: CustomApi;
  readonly events: Pick<EventRecorder, 'record'>;
  readonly metrics: Pick<OperatorMetrics, 'apiWrites'>;
  readonly logger: Logger;
  readonly store: Pick<AccountingStore, 'periodSessionCounts'>;
}

const { group, version, plural } = COST_REPORT_GVK;
const REPORT_API = { group, version, plural } as const;
const MS = 1_000_000n;

/** Creates the CostReports of `closing`; returns how many were created. */
export async function writeReports(
  deps: ReportWriterDeps,
  policy: CostPolicy,
  closing: readonly ClosedPeriod[],
): Promise<number> {
  const { custom, events, metrics, logger, store } = deps;
  const name = policy.metadata.name ?? '';
  let created = 0;
  for (const closed of closing) {
    const timeZone = closed.spec.slice(closed.spec.indexOf('/') + 1);
    const budgets = closed.budgets.length > 0 ? closed.budgets : [undefined];
    const written: string[] = [];
    const sessions = await store.periodSessionCounts(name, closed.spec, BigInt(closed.start) * MS);
    for (const budget of budgets) {
      const reports = buildReports({
        policy: name,
        currency: policy.spec.currency,
        closed,
        sessions,
        timeZone,
        ...(budget ? { budget } : {}),
      });
      for (const report of reports) {
        const rname = report.metadata.name ?? '';
        try {
          await custom.createClusterCustomObject({ ...REPORT_API, body: report });
          metrics.apiWrites.inc({ verb: 'create', resource: 'costreports' });
          created++;
          written.push(rname);
        } catch (err) {
          if (statusCodeOf(err) !== 409) throw err;
          const existing = (await custom.getClusterCustomObject({
            ...REPORT_API,
            name: rname,
          })) as CostReport;
          if (JSON.stringify(existing.spec) !== JSON.stringify(report.spec)) {
            logger.error({ report: rname }, 'CostReport exists with different content; kept as is');
            await events.record(policyRef(policy), {
              type: 'Warning',
              reason: 'CostReportConflict',
              action: 'CloseReport',
              note: `CostReport ${rname} already exists with different content; left unchanged`,
            });
          }
        }
      }
    }
    if (written.length > 0) {
      await events.record(policyRef(policy), {
        type: 'Normal',
        reason: 'PeriodClosed',
        action: 'CloseReport',
        note: `period ${rfc3339(closed.start)} – ${rfc3339(closed.end)} closed into CostReports ${written.join(', ')}`,
      });
    }
  }
  return created;
}
