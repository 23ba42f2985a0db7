// Structured JSON logs: one object per line on stdout, with the component that wrote it, so
// cluster log pipelines can filter without parsing message text.
import { pino } from 'pino';
import type { DestinationStream, Level, Logger } from 'pino';

export type { Logger };
export type LogLevel = Level;
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

export interface LoggerOptions {
  readonly level?: LogLevel;
  /** `component` field on every line, e.g. `node-agent`; children override it. */
  readonly component: string;
  /** Defaults to stdout; tests pass a stream to capture lines. */
  readonly destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { component: options.component },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Level names rather than pino's numbers: readable, and what most log stores key on.
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** A child logger for one part of the agent (`pods`, `http`, `sampler`, …). */
export function componentLogger(parent: Logger, component: string): Logger {
  return parent.child({ component });
}
