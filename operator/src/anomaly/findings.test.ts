import { describe, expect, it } from 'vitest';
import {
  StreamKeyError,
  anomalyEvent,
  findingCounts,
  findingId,
  fromSessionVerdict,
  fromStreamVerdict,
  guardEvent,
  newFindings,
  streamKey,
} from './findings.ts';

const UNIT = 1_000_000_000n;

const verdict = (stream: string, windowHours = 1) => ({
  stream,
  windowHours,
  lastHour: 10,
  observedNano: 30n * UNIT,
  expectedNano: 10n * UNIT,
  sigmaNano: UNIT,
  scoreHundredths: 2000n,
  anomalous: true,
});

describe('anomaly findings', () => {
  it('takes the dimension from the stream key', () => {
    expect(fromStreamVerdict(verdict(streamKey('tag', 'team=search')))).toMatchObject({
      dimension: 'tag',
      key: 'team=search',
      windowHours: 1,
    });
    expect(() => fromStreamVerdict(verdict('pod:x'))).toThrow(StreamKeyError);
    expect(() => fromStreamVerdict(verdict('session:a/b'))).toThrow(StreamKeyError);
  });

  it('raises an Event only for findings new since the last round', () => {
    const a = fromStreamVerdict(verdict('namespace:a'));
    const b = fromStreamVerdict(verdict('namespace:a', 24));
    expect(newFindings(new Set([findingId(a)]), [a, b])).toEqual([b]);
  });

  it('counts by dimension and window only, whatever the number of sessions', () => {
    const sessions = Array.from({ length: 1000 }, (_, i) =>
      fromSessionVerdict({
        key: `a/s${i}`,
        namespace: 'a',
        observedNano: UNIT,
        thresholdNano: UNIT,
        timesQuantileHundredths: 1500n,
      }),
    );
    const counts = findingCounts([...sessions, fromStreamVerdict(verdict('model:gpt-4o'))]);
    expect([...counts]).toEqual([
      ['session/0', 1000],
      ['model/1', 1],
    ]);
  });

  it('says what was spent against what was expected', () => {
    expect(anomalyEvent(fromStreamVerdict(verdict('namespace:a', 24)), 'USD')).toEqual({
      type: 'Warning',
      reason: 'SpendAnomaly',
      action: 'Notify',
      note: 'namespace a spent 30 USD in the last 24 h against 10 USD expected from earlier weeks (20.00 σ above)',
    });
    const s = fromSessionVerdict({
      key: 'a/s1',
      namespace: 'a',
      observedNano: 25n * UNIT,
      thresholdNano: 2n * UNIT,
      timesQuantileHundredths: 2505n,
    });
    expect(anomalyEvent(s, 'EUR').note).toBe(
      "session a/s1 has spent 25 EUR, above its namespace's bar of 2 EUR (25.05 × the 99th percentile of the last day's sessions)",
    );
  });

  it('names the guard, the session and what it did', () => {
    const base = {
      guard: 'g',
      session: 'a/s1',
      atMs: Date.parse('2026-12-07T12:00:00Z'),
      windowStartMs: 0,
    };
    expect(
      guardEvent(
        {
          ...base,
          action: 'Suspend',
          kind: 'repeatedToolCall',
          observed: '5',
          limit: '5',
          tool: 'web_search',
        },
        'USD',
      ),
    ).toEqual({
      type: 'Warning',
      reason: 'GuardTripped',
      action: 'Suspend',
      note: "guard g: session a/s1 called tool web_search with the same arguments 5 times within the guard's window at 2026-12-07T12:00:00.000Z",
    });
    expect(
      guardEvent(
        {
          ...base,
          action: 'MarkOverBudget',
          kind: 'spendPerMinute',
          observed: '600000000',
          limit: '500000000',
        },
        'USD',
      ).note,
    ).toContain('spent 0.6 USD in one minute (limit 0.5)');
  });
});
