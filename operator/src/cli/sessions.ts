// `kubectl agentmeter sessions --top N`: the costliest sessions of a policy in a period, across
// every node (the store holds what the operator collected from all of them).
import { formatMoney, formatMoneyForDisplay } from '@agentmeter/crds';
import type { SessionRecord } from '../store/accounting.ts';
import { renderCsv, renderTable } from './format.ts';
import { USAGE } from './report.ts';
import { parseStoreArgs, storeQuery, withStore, type Command } from './store-source.ts';
import { UsageError } from './usage-error.ts';

const MONEY = ['totalNano', 'infraNano', 'tokensNano', 'toolsNano', 'apisNano'] as const;
const COUNTS = ['calls', 'unpricedCalls', 'inputTokens', 'outputTokens'] as const;
const HEADER = [
  'namespace',
  'session',
  'currency',
  'total',
  'infra',
  'tokens',
  'tools',
  'apis',
  'calls',
  'unpricedCalls',
  'inputTokens',
  'outputTokens',
];

export function formatSessions(
  sessions: readonly SessionRecord[],
  currency: string,
  format: 'table' | 'csv' | 'json',
): string {
  const money = (nano: bigint): string =>
    format === 'table' ? formatMoneyForDisplay(nano, currency) : formatMoney(nano);
  const body = sessions.map((s) => [
    s.namespace,
    s.sessionId,
    currency,
    ...MONEY.map((k) => money(s[k])),
    ...COUNTS.map((k) => s[k].toString()),
  ]);
  if (format === 'json') {
    const list = body.map((cells) => Object.fromEntries(HEADER.map((h, i) => [h, cells[i]])));
    return `${JSON.stringify(list, null, 2)}\n`;
  }
  return format === 'csv'
    ? renderCsv(HEADER, body)
    : renderTable(
        HEADER.map((h) => h.toUpperCase()),
        body,
      );
}

export const runSessions: Command = async (argv, out, nowMs = Date.now()) => {
  const values = parseStoreArgs(argv, {
    top: { type: 'string', default: '20' },
    namespace: { type: 'string' },
    period: { type: 'string', default: 'current' },
  });
  const top = Number(values.top);
  if (!/^\d+$/.test(values.top) || top < 1 || top > 10_000)
    throw new UsageError(`--top must be a whole number from 1 to 10000\n${USAGE}`);
  const { policy, format, currency, range } = storeQuery(values, {
    command: 'sessions',
    formats: ['table', 'csv', 'json'] as const,
    usage: USAGE,
    nowMs,
  });
  const sessions = await withStore(values.store, (s) =>
    s.topSessions(policy, range, top, values.namespace),
  );
  out(formatSessions(sessions, currency, format));
};
