// TEST SEAM ONLY. With AGENTMETER_CLOCK_FILE set, the operator's wall clock (periods, rollover,
// forecasts, timestamps) reads an RFC 3339 instant from that file on every call, so integration
// tests drive period rollover without sleeping. Monotonic time (timers, leases) stays real.
// Never set it in production: budgets would follow whatever the file says.
import { readFileSync } from 'node:fs';
import { systemClock } from './runtime/index.ts';
import type { Clock } from './runtime/index.ts';

export class ClockFileError extends Error {
  override readonly name = 'ClockFileError';
}

export function fileClock(path: string): Clock {
  return {
    now: systemClock.now,
    setTimeout: systemClock.setTimeout,
    date() {
      const text = readFileSync(path, 'utf8').trim();
      const ms = Date.parse(text);
      if (!Number.isFinite(ms))
        throw new ClockFileError(`${path}: not an RFC 3339 instant: ${JSON.stringify(text)}`);
      return new Date(ms);
    },
  };
}
