import { describe, expect, it } from 'vitest';
import { periodAt, periodStamp } from './periods.ts';

const iso = (ms: number) => new Date(ms).toISOString();

describe('periodAt', () => {
  it('gives a 23-hour day when Berlin springs forward', () => {
    const p = periodAt(Date.parse('2026-03-29T12:00:00Z'), 'Daily', 'Europe/Berlin');
    expect(iso(p.start)).toBe('2026-03-28T23:00:00.000Z');
    expect(iso(p.end)).toBe('2026-03-29T22:00:00.000Z');
    expect(p.end - p.start).toBe(23 * 3600_000);
  });
  it('gives a 25-hour day when New York falls back', () => {
    const p = periodAt(Date.parse('2026-11-01T12:00:00Z'), 'Daily', 'America/New_York');
    expect(iso(p.start)).toBe('2026-11-01T04:00:00.000Z');
    expect(p.end - p.start).toBe(25 * 3600_000);
  });
  it('starts weeks on Monday (ISO)', () => {
    // Sunday 2026-05-10 23:30 in Berlin is still the week of Monday 2026-05-04.
    const p = periodAt(Date.parse('2026-05-10T21:30:00Z'), 'Weekly', 'Europe/Berlin');
    expect(iso(p.start)).toBe('2026-05-03T22:00:00.000Z');
    expect(iso(p.end)).toBe('2026-05-10T22:00:00.000Z');
  });
  it('includes the start and excludes the end', () => {
    const start = Date.parse('2026-05-01T00:00:00Z');
    expect(periodAt(start, 'Monthly').start).toBe(start);
    expect(periodAt(start - 1, 'Monthly').end).toBe(start);
  });
  it('handles months across DST in New York', () => {
    const p = periodAt(Date.parse('2026-03-15T00:00:00Z'), 'Monthly', 'America/New_York');
    expect(iso(p.start)).toBe('2026-03-01T05:00:00.000Z');
    expect(iso(p.end)).toBe('2026-04-01T04:00:00.000Z');
    expect(periodStamp(p.start, 'America/New_York')).toBe('20260301');
  });
  it('rejects an unknown zone', () => {
    expect(() => periodAt(0, 'Daily', 'Mars/Olympus')).toThrow(/time zone/);
  });
});
