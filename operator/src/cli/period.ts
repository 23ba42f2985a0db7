// The `--period` of the store-backed commands as a range of UTC days: the current or the last
// calendar month, or FROM..TO (ISO dates, TO excluded, like every period end in agentmeter).
import { calendarMonth, type DayRange } from '../store/accounting.ts';
import { UsageError } from './usage-error.ts';

const DAY_MS = 86_400_000;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

function day(text: string): number {
  const m = DATE.exec(text);
  const ms = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : NaN;
  if (!m || new Date(ms).toISOString().slice(0, 10) !== text) {
    throw new UsageError(`--period: "${text}" is not a date (YYYY-MM-DD)`);
  }
  return ms / DAY_MS;
}

function month(year: number, monthIndex: number): DayRange {
  return {
    fromDay: Date.UTC(year, monthIndex, 1) / DAY_MS,
    toDay: Date.UTC(year, monthIndex + 1, 1) / DAY_MS,
  };
}

export function parsePeriod(text: string, nowMs: number): DayRange {
  const now = new Date(nowMs);
  if (text === 'current') return month(now.getUTCFullYear(), now.getUTCMonth());
  if (text === 'last') return month(now.getUTCFullYear(), now.getUTCMonth() - 1);
  const parts = text.split('..');
  if (parts.length !== 2) {
    throw new UsageError(`--period must be current, last or FROM..TO (dates), not "${text}"`);
  }
  const range = { fromDay: day(parts[0] ?? ''), toDay: day(parts[1] ?? '') };
  if (range.toDay <= range.fromDay) throw new UsageError(`--period: ${text} is empty`);
  return range;
}

/** ISO 8601 UTC, to the second, of the start of a unix day. */
export function dayStart(unixDay: number): string {
  return new Date(unixDay * DAY_MS).toISOString().replace('.000Z', 'Z');
}

/** The calendar month a unix day falls in. */
export const monthOf = calendarMonth;
