// `kubectl agentmeter session NAMESPACE/ID --policy NAME`: one session's calls from the store
// (every node's, as the operator collected them) as a tree by trace and parent span, subtotals
// per model, tool and API host, the infrastructure share and the total. Amounts are exact
// decimals, so every column adds up: total = infrastructure + Σ calls, to the nano-unit.
import { parseArgs } from 'node:util';
import { formatMoney } from '@agentmeter/crds';
import type { CallRecord, SessionRecord } from '../store/accounting.ts';
import { renderTable } from './format.ts';
import { USAGE } from './report.ts';
import { withStore } from './store-source.ts';
import { UsageError } from './usage-error.ts';

const SESSION_RE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([A-Za-z0-9._:-]{1,128})$/;
const MAX_CALLS = 100_000;

interface Node {
  readonly call: CallRecord;
  readonly children: Node[];
}

interface Subtotal {
  calls: bigint;
  unpriced: bigint;
  costNano: bigint;
  input: bigint;
  output: bigint;
  cacheRead: bigint;
}

export interface SessionReport {
  readonly namespace: string;
  readonly sessionId: string;
  readonly currency: string;
  readonly traces: { readonly traceId: string; readonly calls: Node[] }[];
  readonly byModel: Map<string, Subtotal>;
  readonly byTool: Map<string, Subtotal>;
  readonly byApi: Map<string, Subtotal>;
  readonly infraNano: bigint;
  readonly callsNano: bigint;
  /** The store's own session total, when it differs from infra + Σ calls listed (calls retained away). */
  readonly storedTotalNano: bigint | null;
}

function byStart(a: Node, b: Node): number {
  if (a.call.startNs !== b.call.startNs) return a.call.startNs < b.call.startNs ? -1 : 1;
  return a.call.spanId < b.call.spanId ? -1 : a.call.spanId > b.call.spanId ? 1 : 0;
}

function sorted(nodes: Node[]): Node[] {
  nodes.sort(byStart);
  for (const n of nodes) sorted(n.children);
  return nodes;
}

function subject(call: CallRecord): string {
  const name =
    call.kind === 'tool' ? call.toolName : call.kind === 'api' ? call.apiHost : call.model;
  return name ?? 'unknown';
}

export function sessionReport(
  namespace: string,
  sessionId: string,
  currency: string,
  record: SessionRecord | undefined,
  calls: readonly CallRecord[],
): SessionReport {
  const traces = new Map<string, Map<string, Node>>();
  const subtotals = { model: new Map(), tool: new Map(), api: new Map() } as Record<
    CallRecord['kind'],
    Map<string, Subtotal>
  >;
  let callsNano = 0n;
  for (const call of calls) {
    let trace = traces.get(call.traceId);
    if (trace === undefined) {
      trace = new Map();
      traces.set(call.traceId, trace);
    }
    trace.set(call.spanId, { call, children: [] });
    const byName = subtotals[call.kind];
    const name = subject(call);
    const sub = byName.get(name) ?? {
      calls: 0n,
      unpriced: 0n,
      costNano: 0n,
      input: 0n,
      output: 0n,
      cacheRead: 0n,
    };
    sub.calls++;
    if (call.costNano === null) sub.unpriced++;
    else sub.costNano += call.costNano;
    sub.input += call.inputTokens;
    sub.output += call.outputTokens;
    sub.cacheRead += call.cacheReadTokens;
    byName.set(name, sub);
    callsNano += call.costNano ?? 0n;
  }
  const treeOf = (nodes: Map<string, Node>): Node[] => {
    const roots: Node[] = [];
    for (const node of nodes.values()) {
      const parent =
        node.call.parentSpanId === null ? undefined : nodes.get(node.call.parentSpanId);
      if (parent === undefined) roots.push(node);
      else parent.children.push(node);
    }
    return sorted(roots);
  };
  const infraNano = record?.infraNano ?? 0n;
  const stored = record?.totalNano ?? 0n;
  return {
    namespace,
    sessionId,
    currency,
    traces: [...traces]
      .map(([traceId, nodes]) => ({ traceId, calls: treeOf(nodes) }))
      .sort((a, b) => byStart(a.calls[0] as Node, b.calls[0] as Node)),
    byModel: subtotals.model,
    byTool: subtotals.tool,
    byApi: subtotals.api,
    infraNano,
    callsNano,
    storedTotalNano: stored === infraNano + callsNano ? null : stored,
  };
}

function callLine(call: CallRecord): string {
  const what =
    call.kind === 'model'
      ? `${call.operation} ${call.model ?? 'unknown'} in=${call.inputTokens} out=${call.outputTokens}` +
        (call.cacheReadTokens > 0n ? ` cache_read=${call.cacheReadTokens}` : '') +
        (call.cacheCreationTokens > 0n ? ` cache_write=${call.cacheCreationTokens}` : '')
      : call.kind === 'tool'
        ? `${call.operation} ${call.toolName ?? 'unknown'}`
        : `${call.operation} ${call.apiHost ?? 'unknown'}`;
  const cost =
    call.costNano === null
      ? `unpriced (${call.unpricedReason ?? '?'})`
      : formatMoney(call.costNano);
  const error = call.errorType === null ? '' : ` error=${call.errorType}`;
  return `${what}${error}  ${cost}`;
}

function treeLines(nodes: readonly Node[], depth: number, out: string[]): void {
  for (const node of nodes) {
    out.push(`${'  '.repeat(depth)}${callLine(node.call)}`);
    treeLines(node.children, depth + 1, out);
  }
}

function subtotalRows(
  kind: string,
  map: ReadonlyMap<string, Subtotal>,
  tokens: boolean,
): string[][] {
  return [...map]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, s]) => [
      kind,
      name,
      s.calls.toString(),
      s.unpriced.toString(),
      tokens ? s.input.toString() : '',
      tokens ? s.output.toString() : '',
      tokens ? s.cacheRead.toString() : '',
      formatMoney(s.costNano),
    ]);
}

function nodeJson(node: Node): unknown {
  const c = node.call;
  return {
    spanId: c.spanId,
    parentSpanId: c.parentSpanId,
    start: c.startNs.toString(),
    end: c.endNs.toString(),
    kind: c.kind,
    operation: c.operation,
    provider: c.provider,
    model: c.model,
    tool: c.toolName === null ? null : { name: c.toolName, type: c.toolType, callId: c.toolCallId },
    apiHost: c.apiHost,
    tokens:
      c.kind === 'model'
        ? {
            input: c.inputTokens.toString(),
            output: c.outputTokens.toString(),
            cacheRead: c.cacheReadTokens.toString(),
            cacheCreation: c.cacheCreationTokens.toString(),
            reasoning: c.reasoningTokens.toString(),
          }
        : null,
    errorType: c.errorType,
    cost: c.costNano === null ? null : formatMoney(c.costNano),
    unpriced: c.unpricedReason,
    children: node.children.map(nodeJson),
  };
}

function subtotalJson(map: ReadonlyMap<string, Subtotal>): unknown {
  return Object.fromEntries(
    [...map].map(([name, s]) => [
      name,
      {
        calls: s.calls.toString(),
        unpricedCalls: s.unpriced.toString(),
        inputTokens: s.input.toString(),
        outputTokens: s.output.toString(),
        cacheReadTokens: s.cacheRead.toString(),
        cost: formatMoney(s.costNano),
      },
    ]),
  );
}

export function formatSession(report: SessionReport, format: 'table' | 'json'): string {
  const total = report.infraNano + report.callsNano;
  if (format === 'json') {
    const body = {
      session: { namespace: report.namespace, id: report.sessionId },
      currency: report.currency,
      traces: report.traces.map((t) => ({ traceId: t.traceId, calls: t.calls.map(nodeJson) })),
      byModel: subtotalJson(report.byModel),
      byTool: subtotalJson(report.byTool),
      byApi: subtotalJson(report.byApi),
      cost: {
        infrastructure: formatMoney(report.infraNano),
        calls: formatMoney(report.callsNano),
        total: formatMoney(total),
      },
      ...(report.storedTotalNano === null
        ? {}
        : { storedTotal: formatMoney(report.storedTotalNano) }),
    };
    return `${JSON.stringify(body, null, 2)}\n`;
  }
  const lines = [`session ${report.namespace}/${report.sessionId} (${report.currency})`, ''];
  for (const trace of report.traces) {
    lines.push(`trace ${trace.traceId}`);
    treeLines(trace.calls, 1, lines);
  }
  lines.push('');
  const rows = [
    ...subtotalRows('model', report.byModel, true),
    ...subtotalRows('tool', report.byTool, false),
    ...subtotalRows('api', report.byApi, false),
    ['calls', '', '', '', '', '', '', formatMoney(report.callsNano)],
    ['infrastructure', '', '', '', '', '', '', formatMoney(report.infraNano)],
    ['total', '', '', '', '', '', '', formatMoney(total)],
  ];
  const table = renderTable(
    ['KIND', 'NAME', 'CALLS', 'UNPRICED', 'INPUT', 'OUTPUT', 'CACHE READ', 'COST'],
    rows,
  );
  const note =
    report.storedTotalNano === null
      ? ''
      : `note: the store's session total is ${formatMoney(report.storedTotalNano)}: some calls are past the store's call retention\n`;
  return `${lines.join('\n')}\n${table}${note}`;
}

export async function runSession(argv: readonly string[], out: (s: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      policy: { type: 'string' },
      format: { type: 'string', default: 'table' },
      currency: { type: 'string', default: 'USD' },
      store: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  const match = positionals.length === 1 ? SESSION_RE.exec(positionals[0] ?? '') : null;
  if (match === null) throw new UsageError(`session needs one NAMESPACE/ID\n${USAGE}`);
  if (!values.policy) throw new UsageError(`session needs --policy\n${USAGE}`);
  const format = values.format;
  if (format !== 'table' && format !== 'json')
    throw new UsageError(`--format must be table or json\n${USAGE}`);
  if (!/^[A-Z]{3}$/.test(values.currency))
    throw new UsageError(`--currency must be an ISO 4217 code such as USD\n${USAGE}`);
  const namespace = match[1] ?? '';
  const id = match[3] ?? '';
  const policy = values.policy;
  const { record, calls } = await withStore(values.store, async (s) => ({
    record: await s.session(policy, namespace, id),
    calls: await s.sessionCalls(policy, namespace, id, MAX_CALLS),
  }));
  if (record === undefined && calls.length === 0) {
    throw new Error(`no session ${namespace}/${id} in the store for policy ${policy}`);
  }
  out(formatSession(sessionReport(namespace, id, values.currency, record, calls), format));
}
