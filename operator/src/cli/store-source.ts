// Where the store-backed commands read: `--store PATH|postgres://URL`, else the operator's own
// environment (AGENTMETER_STORE_URL, AGENTMETER_STORE_PATH); and what they ask of it, checked.
import { existsSync } from 'node:fs';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import type { AccountingStore, DayRange } from '../store/accounting.ts';
import { openStore, StoreOpenError, storeConfigFromEnv } from '../store/open.ts';
import type { StoreConfig } from '../store/open.ts';
import { parsePeriod } from './period.ts';
import { UsageError } from './usage-error.ts';

/** A command of the CLI: its arguments, where it writes, and the time "current" is taken at. */
export type Command = (
  argv: readonly string[],
  out: (s: string) => void,
  nowMs?: number,
) => Promise<void>;

/** The options every store-backed command takes (its --period default is its own). */
const STORE_OPTIONS = {
  policy: { type: 'string' },
  format: { type: 'string', default: 'table' },
  currency: { type: 'string', default: 'USD' },
  store: { type: 'string' },
} as const satisfies ParseArgsOptionsConfig;

/** Parses a store-backed command's arguments: STORE_OPTIONS and the command's own `options`. */
export function parseStoreArgs<T extends ParseArgsOptionsConfig>(
  argv: readonly string[],
  options: T,
) {
  return parseArgs({ args: [...argv], options: { ...STORE_OPTIONS, ...options }, strict: true })
    .values;
}

/** What a store-backed command asks: one policy's spend over a range of days, in a format. */
export interface StoreQuery<F extends string> {
  readonly policy: string;
  readonly format: F;
  readonly currency: string;
  readonly range: DayRange;
}

/**
 * Checks the options every store-backed command takes, in this order: `--policy` (which
 * `command` needs), `--format` (one of `formats`), `--currency` (ISO 4217) and `--period`.
 */
export function storeQuery<F extends string>(
  values: { policy?: string; format: string; currency: string; period: string },
  o: { command: string; formats: readonly F[]; usage: string; nowMs: number },
): StoreQuery<F> {
  if (!values.policy) throw new UsageError(`${o.command} needs --policy\n${o.usage}`);
  const format = o.formats.find((f) => f === values.format);
  if (format === undefined) {
    const listed = `${o.formats.slice(0, -1).join(', ')} or ${o.formats.at(-1) ?? ''}`;
    throw new UsageError(`--format must be ${listed}\n${o.usage}`);
  }
  if (!/^[A-Z]{3}$/.test(values.currency))
    throw new UsageError(`--currency must be an ISO 4217 code such as USD\n${o.usage}`);
  const range = parsePeriod(values.period, o.nowMs);
  return { policy: values.policy, format, currency: values.currency, range };
}

export function storeConfig(flag: string | undefined, env: NodeJS.ProcessEnv): StoreConfig {
  if (flag === undefined || flag === '') return storeConfigFromEnv(env);
  return /^postgres(ql)?:\/\//.test(flag)
    ? { engine: 'postgres', url: flag }
    : { engine: 'sqlite', path: flag };
}

/** Runs `use` on the opened store and always closes it. */
export async function withStore<T>(
  flag: string | undefined,
  use: (store: AccountingStore) => Promise<T>,
): Promise<T> {
  const config = storeConfig(flag, process.env);
  // Opening a SQLite path creates it; a report must not leave an empty store behind a typo.
  if (config.engine === 'sqlite' && !existsSync(config.path)) {
    throw new StoreOpenError(`no store at ${config.path} (give --store or AGENTMETER_STORE_PATH)`);
  }
  const store = await openStore(config);
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}
