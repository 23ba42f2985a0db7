// `agentmeter report` (also the kubectl plugin `kubectl agentmeter report`): current periods
// from the operator's store, closed periods from CostReports, per namespace or per session.
import { CustomObjectsApi, EventsV1Api } from '@kubernetes/client-node';
import { COST_POLICY_GVK, COST_REPORT_GVK, formatMoney } from '@agentmeter/crds';
import { loadKubeConfig } from '@agentmeter/kube-client/kubeconfig';
import type { CostPolicy, CostReport } from '@agentmeter/crds';
import { RESOURCES } from '../budgets/contribution.ts';
import { rfc3339 } from '../budgets/periods.ts';
import { decodeState } from '../budgets/state.ts';
import { LABEL_POLICY } from '../reports/build.ts';
import { eventRows, formatAnomalies, trippedRows } from './anomalies.ts';
import { formatReport } from './format.ts';
import type { OutputFormat, ReportRow } from './format.ts';
import { formatStoreReport, parseBreakdown } from './store-report.ts';
import type { StoreReportFormat } from './store-report.ts';
import { parseStoreArgs, storeQuery, withStore, type Command } from './store-source.ts';
import { UsageError } from './usage-error.ts';
import type { AccountingStore } from '../store/accounting.ts';

const MS = 1_000_000n;

export const USAGE = `Usage: agentmeter report [--policy NAME] [--period current|closed|all]
                         [--format table|csv|json] [--sessions] [--kubeconfig PATH]
                         [--store PATH|postgres://URL]
       agentmeter report --anomalies [--policy NAME] [--format table|csv|json]
                         [--kubeconfig PATH]
       agentmeter report --by namespace|tag:NAME|model|tool|api --policy NAME
                         [--period current|last|FROM..TO] [--format table|csv|json|focus]
                         [--currency ISO4217] [--store PATH|postgres://URL]
       agentmeter sessions [--top N] [--namespace NS] --policy NAME
                         [--period current|last|FROM..TO] [--format table|csv|json]
                         [--currency ISO4217] [--store PATH|postgres://URL]
       agentmeter session NAMESPACE/ID --policy NAME [--format table|json]
                         [--currency ISO4217] [--store PATH|postgres://URL]
FROM..TO are UTC dates, TO excluded. The store is --store, else AGENTMETER_STORE_URL or
AGENTMETER_STORE_PATH as the operator reads them.`;

export { UsageError };

/**
 * Rows of the open periods of a policy, from the operator's store (exact, as the operator
 * counted): per namespace from the fold's report accumulators, or with `sessions` every session's
 * spend in the open period of the policy's first Session-scope budget.
 */
export async function currentRows(
  store: AccountingStore,
  policy: CostPolicy,
  sessions: boolean,
): Promise<ReportRow[]> {
  const name = policy.metadata.name ?? '';
  const state = decodeState(await store.state(name));
  const currency = policy.spec.currency;
  const rows: ReportRow[] = [];
  if (sessions) {
    for (const budget of policy.spec.budgets ?? []) {
      const b = state.budgets.get(budget.name);
      if ((budget.scope ?? 'Policy') !== 'Session' || b === undefined) continue;
      for (const { key, nano } of await store.budgetSums(name, budget.name, BigInt(b.start) * MS)) {
        const i = key.indexOf('/');
        rows.push({
          policy: name,
          period: 'current',
          periodStart: rfc3339(b.start),
          periodEnd: rfc3339(b.end),
          namespace: key.slice(0, i),
          session: key.slice(i + 1),
          currency,
          total: formatMoney(nano),
        });
      }
      break;
    }
    return rows;
  }
  for (const [spec, accum] of state.reports) {
    const sessions = await store.periodSessionCounts(name, spec, BigInt(accum.start) * MS);
    for (const [ns, a] of [...accum.namespaces].sort(([x], [y]) => (x < y ? -1 : 1))) {
      rows.push({
        policy: name,
        period: 'current',
        periodStart: rfc3339(accum.start),
        periodEnd: rfc3339(accum.end),
        namespace: ns,
        currency,
        total: formatMoney(RESOURCES.reduce((s, r) => s + a.cost[r], 0n)),
        cpu: formatMoney(a.cost.cpu),
        memory: formatMoney(a.cost.memory),
        gpu: formatMoney(a.cost.gpu),
        io: formatMoney(a.cost.io),
        network: formatMoney(a.cost.network),
        tokens: formatMoney(a.cost.tokens),
        tools: formatMoney(a.cost.tools),
        apis: formatMoney(a.cost.apis),
        inputTokens: Number(a.input),
        outputTokens: Number(a.output),
        sessions: sessions.get(ns) ?? 0,
      });
    }
  }
  return rows;
}

export function closedRows(reports: readonly CostReport[]): ReportRow[] {
  return reports.flatMap((r) =>
    r.spec.namespaces.map((n) => ({
      policy: r.spec.policy.name,
      period: 'closed' as const,
      periodStart: r.spec.period.start,
      periodEnd: r.spec.period.end,
      namespace: n.namespace,
      currency: r.spec.currency,
      ...n.cost,
      inputTokens: n.tokens.input,
      outputTokens: n.tokens.output,
      sessions: n.sessions,
    })),
  );
}

const STORE_REPORT_FORMATS: readonly StoreReportFormat[] = ['table', 'csv', 'json', 'focus'];

async function runStoreReport(
  values: {
    by?: string;
    policy?: string;
    period: string;
    format: string;
    currency: string;
    store?: string;
  },
  out: (s: string) => void,
  nowMs: number,
): Promise<void> {
  const by = parseBreakdown(values.by ?? '');
  const { policy, format, currency, range } = storeQuery(
    // The default --period of the CostReport form, "all", means the current month here.
    { ...values, period: values.period === 'all' ? 'current' : values.period },
    { command: '--by', formats: STORE_REPORT_FORMATS, usage: USAGE, nowMs },
  );
  const rows = await withStore(values.store, (s) => s.dailyBreakdown(policy, range, by));
  out(formatStoreReport(rows, { policy, currency, range, by, format }));
}

export const runReport: Command = async (argv, out, nowMs = Date.now()) => {
  const values = parseStoreArgs(argv, {
    period: { type: 'string', default: 'all' },
    sessions: { type: 'boolean', default: false },
    anomalies: { type: 'boolean', default: false },
    kubeconfig: { type: 'string' },
    by: { type: 'string' },
  });
  if (values.by !== undefined) {
    await runStoreReport(values, out, nowMs);
    return;
  }
  const format = values.format as OutputFormat;
  if (!['table', 'csv', 'json'].includes(format))
    throw new UsageError(`--format must be table, csv or json\n${USAGE}`);
  if (!['current', 'closed', 'all'].includes(values.period))
    throw new UsageError(`--period must be current, closed or all\n${USAGE}`);
  const kc = loadKubeConfig({ kubeconfig: values.kubeconfig });
  const api = kc.makeApiClient(CustomObjectsApi);
  const listPolicies = async () =>
    (
      (await api.listClusterCustomObject({
        group: COST_POLICY_GVK.group,
        version: COST_POLICY_GVK.version,
        plural: COST_POLICY_GVK.plural,
      })) as { items: CostPolicy[] }
    ).items.filter((p) => !values.policy || p.metadata.name === values.policy);
  if (values.anomalies) {
    const events = await kc.makeApiClient(EventsV1Api).listEventForAllNamespaces();
    const rows = [...eventRows(events.items, values.policy), ...trippedRows(await listPolicies())];
    out(formatAnomalies(rows, format));
    return;
  }
  const rows: ReportRow[] = [];
  if (values.period !== 'closed') {
    // The open periods live in the operator's store (--store, or the operator's environment).
    const policies = await listPolicies();
    await withStore(values.store, async (s) => {
      for (const p of policies) rows.push(...(await currentRows(s, p, values.sessions)));
    });
  }
  if (values.period !== 'current' && !values.sessions) {
    const list = (await api.listClusterCustomObject({
      group: COST_REPORT_GVK.group,
      version: COST_REPORT_GVK.version,
      plural: COST_REPORT_GVK.plural,
      ...(values.policy ? { labelSelector: `${LABEL_POLICY}=${values.policy}` } : {}),
    })) as { items: CostReport[] };
    const sorted = list.items.sort((a, b) =>
      (a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : 1,
    );
    rows.push(...closedRows(sorted));
  }
  out(formatReport(rows, format));
};
