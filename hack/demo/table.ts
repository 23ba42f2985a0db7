// The demo's chargeback table: per namespace from the agent's /metrics and the CostPolicy status
// the operator writes, per session from the agent's session API. Money stays a decimal string or
// BigInt nano-units; only the Prometheus samples (floats by format) are shown as floats.
import { divRoundHalfEven, formatMoney, parseMoney } from '@agentmeter/crds';
import type { CostPolicy } from '@agentmeter/crds';

export interface SessionView {
  session: { namespace: string; id: string };
  usage: { cpuNs?: string; memoryByteSeconds?: string };
  tokens: { model: string; inputTokens: string; outputTokens: string }[];
  cost: {
    infrastructure: Record<string, string>;
    tokens: Record<string, string>;
    total: Record<string, string>;
  };
  pods: { name: string }[];
  overBudget: boolean;
}

export interface NamespaceRow {
  namespace: string;
  cpuSeconds: number;
  cost: number;
  /** Cost of the namespace's pods that no session was charged for (idle time, no spans). */
  unattributed: number;
}

export interface Snapshot {
  elapsedS: number;
  currency: string;
  namespaces: NamespaceRow[];
  /** Sessions the demo started, in order; `view` is absent until the agent has charged them, and
   * `refused` says why the agent answered neither the view nor 404 (e.g. "HTTP 403: ..."). */
  sessions: { namespace: string; id: string; view?: SessionView; refused?: string }[];
  policy?: CostPolicy;
  /** Why there is no budget column, when there is none. */
  operatorNote?: string;
  notes: string[];
  urls: [string, string][];
}

/**
 * Sums the samples of `name` per value of `label` in Prometheus text exposition, over the
 * samples whose labels include every pair of `where`.
 */
export function sumByLabel(
  text: string,
  name: string,
  label: string,
  where: Record<string, string> = {},
): Map<string, number> {
  const out = new Map<string, number>();
  const re = new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`);
  const labelValue = (labels: string, key: string): string | undefined =>
    new RegExp(`(?:^|,)${key}="([^"]*)"`).exec(labels)?.[1];
  for (const line of text.split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    const labels = m[1] ?? '';
    if (Object.entries(where).some(([k, v]) => labelValue(labels, k) !== v)) continue;
    const value = labelValue(labels, label);
    if (value !== undefined) out.set(value, (out.get(value) ?? 0) + Number(m[2]));
  }
  return out;
}

export function sessionCostNano(
  view: SessionView,
  currency: string,
): { infra: bigint; calls: bigint } {
  const money = (s: string | undefined): bigint => (s === undefined ? 0n : parseMoney(s));
  const infra = money(view.cost.infrastructure[currency]);
  // Model, tool and API calls: the view's total is infrastructure plus them, exactly.
  return { infra, calls: money(view.cost.total[currency]) - infra };
}

/** Four decimals, half-even: cents would show most of a short demo's sessions as 0.00. */
function money4(nano: bigint): string {
  return formatMoney(divRoundHalfEven(nano, 100_000n) * 100_000n, { minFractionDigits: 4 });
}

function percentOf(spent: string, amount: string): string {
  const pct = divRoundHalfEven(parseMoney(spent) * 1000n, parseMoney(amount));
  return `${formatMoney(pct * 100_000_000n, { minFractionDigits: 1 })}%`;
}

/** Columns in `left` are text, left-aligned; the others are numbers, right-aligned. */
function table(header: string[], rows: string[][], left: readonly number[] = [0]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (left.includes(i) ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** Budget usage of `key` under the first budget of `scope`, from the policy status. */
function budgetUsage(policy: CostPolicy | undefined, scope: string, key: string): string {
  const budget = policy?.spec.budgets?.find((b) => (b.scope ?? 'Policy') === scope);
  if (policy === undefined || budget === undefined) return '-';
  const status = policy.status?.budgets?.find((b) => b.name === budget.name);
  if (status === undefined) return 'not yet';
  const spent = status.topScopes?.find((s) => s.key === key)?.spent ?? '0';
  return `${percentOf(spent, budget.amount)} of ${budget.amount}`;
}

export function render(s: Snapshot): string {
  const out: string[] = [];
  const withBudget = s.policy !== undefined;
  const nsBudget = s.policy?.spec.budgets?.find((b) => b.scope === 'Namespace');
  const sessionBudget = s.policy?.spec.budgets?.find((b) => b.scope === 'Session');
  out.push(
    `agentmeter demo: ${s.elapsedS}s of workload; ${s.currency}, exact to 1e-9, shown to 4 decimals`,
  );
  out.push('');
  out.push(
    'Per namespace (agent /metrics; budget usage from CostPolicy status, written by the operator)',
  );
  out.push(
    table(
      [
        'NAMESPACE',
        'CPU s',
        `COST ${s.currency}`,
        'OF WHICH UNATTRIBUTED',
        withBudget ? `BUDGET ${nsBudget?.name ?? ''} (${nsBudget?.period ?? ''})` : 'BUDGET',
      ],
      s.namespaces.map((n) => [
        n.namespace,
        n.cpuSeconds.toFixed(2),
        n.cost.toFixed(4),
        n.unattributed.toFixed(4),
        withBudget ? budgetUsage(s.policy, 'Namespace', n.namespace) : 'n/a',
      ]),
    ),
  );
  out.push(
    'CPU s counts ticks as measured; costs and sessions count ticks once settled, 2 ticks later.',
  );
  out.push('');
  out.push('Per session (agent GET /v1/sessions/{namespace}/{id})');
  const rows = s.sessions.map(({ namespace, id, view, refused }) => {
    if (view === undefined)
      return [`${namespace}/${id}`, '-', '-', '-', '-', '-', refused ?? 'not charged yet'];
    const cost = sessionCostNano(view, s.currency);
    const tokensIn = view.tokens.reduce((a, t) => a + BigInt(t.inputTokens), 0n);
    const tokensOut = view.tokens.reduce((a, t) => a + BigInt(t.outputTokens), 0n);
    const cpuS = Number(BigInt(view.usage.cpuNs ?? '0') / 1_000_000n) / 1000;
    const memGiBs = Number(BigInt(view.usage.memoryByteSeconds ?? '0') / 1_048_576n) / 1024;
    return [
      `${namespace}/${id}`,
      view.pods.map((p) => p.name).join(','),
      cpuS.toFixed(2),
      memGiBs.toFixed(2),
      view.tokens.length === 0 ? '-' : `${tokensIn}/${tokensOut}`,
      `${money4(cost.infra)} + ${money4(cost.calls)}`,
      money4(cost.infra + cost.calls) + (view.overBudget ? ' OVER BUDGET' : ''),
      ...(withBudget ? [budgetUsage(s.policy, 'Session', `${namespace}/${id}`)] : []),
    ];
  });
  out.push(
    table(
      [
        'SESSION',
        'POD',
        'CPU s',
        'MEM GiB·s',
        'TOKENS in/out',
        'INFRA + CALLS',
        `TOTAL ${s.currency}`,
        ...(withBudget ? [`BUDGET ${sessionBudget?.name ?? ''}`] : []),
      ],
      rows,
      [0, 1],
    ),
  );
  if (s.operatorNote !== undefined) out.push('', `WARNING: ${s.operatorNote}`);
  for (const note of s.notes) out.push(`WARNING: ${note}`);
  out.push('');
  const width = Math.max(...s.urls.map(([k]) => k.length));
  for (const [name, url] of s.urls) out.push(`${name.padEnd(width)}  ${url}`);
  return out.join('\n');
}
