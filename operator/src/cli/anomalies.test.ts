import type { EventsV1Event } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { CostPolicy } from '@agentmeter/crds';
import { eventRows, formatAnomalies, trippedRows } from './anomalies.ts';

const event = (reason: string, name: string, at: string, kind = 'CostPolicy'): EventsV1Event => ({
  metadata: {},
  eventTime: new Date(at),
  reason,
  note: `${reason} of ${name}`,
  regarding: { kind, name },
});

describe('report --anomalies', () => {
  it('lists the anomaly and guard Events of CostPolicies, oldest first, and the sessions held now', () => {
    const events = [
      event('GuardTripped', 'team', '2026-05-10T12:05:00Z'),
      event('SpendAnomaly', 'team', '2026-05-10T12:00:00Z'),
      event('BudgetExceeded', 'team', '2026-05-10T12:01:00Z'),
      event('SpendAnomaly', 'other', '2026-05-10T12:02:00Z'),
      event('SpendAnomaly', 'team', '2026-05-10T12:03:00Z', 'Pod'),
    ];
    expect(eventRows(events, 'team').map((r) => [r.time, r.kind])).toEqual([
      ['2026-05-10T12:00:00.000Z', 'SpendAnomaly'],
      ['2026-05-10T12:05:00.000Z', 'GuardTripped'],
    ]);
    expect(eventRows(events)).toHaveLength(3);
    const policy = {
      metadata: { name: 'team' },
      status: {
        guards: {
          tripped: [
            {
              guard: 'loop',
              session: 'ns/s1',
              action: 'Suspend',
              kind: 'repeatedToolCall',
              trippedAt: '2026-05-10T12:04:00Z',
              until: '2026-05-11T00:00:00Z',
              observed: '5',
              limit: '5',
              tool: 'search',
            },
          ],
        },
      },
    } as unknown as CostPolicy;
    const rows = trippedRows([policy]);
    expect(rows).toEqual([
      {
        time: '2026-05-10T12:04:00Z',
        policy: 'team',
        kind: 'Tripped',
        subject: 'ns/s1',
        detail:
          'guard loop (repeatedToolCall): 5 over 5, tool search; Suspend until 2026-05-11T00:00:00Z',
      },
    ]);
    expect(formatAnomalies(rows, 'csv')).toBe(
      'time,policy,kind,subject,detail\n2026-05-10T12:04:00Z,team,Tripped,ns/s1,"guard loop (repeatedToolCall): 5 over 5, tool search; Suspend until 2026-05-11T00:00:00Z"\n',
    );
    expect(formatAnomalies(rows, 'table').split('\n')[0]).toMatch(
      /^TIME\s+POLICY\s+KIND\s+SUBJECT\s+DETAIL$/,
    );
  });
});
