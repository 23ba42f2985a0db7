import { describe, expect, it } from 'vitest';
import { formatReport } from './format.ts';
import type { ReportRow } from './format.ts';

const row: ReportRow = {
  policy: 'team',
  period: 'closed',
  periodStart: '2026-05-01T00:00:00Z',
  periodEnd: '2026-06-01T00:00:00Z',
  namespace: 'a',
  currency: 'USD',
  total: '1.234567891',
  cpu: '1.234567891',
  memory: '0',
  gpu: '0',
  io: '0',
  network: '0',
  tokens: '0',
  tools: '0',
  apis: '0',
  inputTokens: 5,
  outputTokens: 6,
  sessions: 2,
};

describe('formatReport', () => {
  it('writes exact CSV rows per namespace', () => {
    expect(formatReport([row], 'csv')).toBe(
      'policy,period,periodStart,periodEnd,namespace,currency,total,cpu,memory,gpu,io,network,tokens,tools,apis,inputTokens,outputTokens,sessions\n' +
        'team,closed,2026-05-01T00:00:00Z,2026-06-01T00:00:00Z,a,USD,1.234567891,1.234567891,0,0,0,0,0,0,0,5,6,2\n',
    );
  });
  it('leaves the tools and apis cells empty for a report written before calls were priced', () => {
    const { tools: _tools, apis: _apis, ...before } = row;
    expect(formatReport([before], 'csv').split('\n')[1]).toContain(',0,,,5,6,2');
  });
  it('adds a session column only per session', () => {
    const s = formatReport([{ ...row, session: 's,1' }], 'csv');
    expect(s.split('\n')[0]).toContain('namespace,session,currency');
    expect(s).toContain(',"s,1",');
  });
  it('rounds for display in the table only', () => {
    const t = formatReport([row], 'table');
    expect(t).toContain('1.23');
    expect(t).not.toContain('1.234567891');
    expect(JSON.parse(formatReport([row], 'json'))).toEqual([row]);
  });
});
