// Where the store-backed commands read: `--store PATH|postgres://URL`, else the operator's own
// environment (AGENTMETER_STORE_URL, AGENTMETER_STORE_PATH).
import { existsSync } from 'node:fs';
import type { AccountingStore } from '../store/accounting.ts';
import { openStore, StoreOpenError, storeConfigFromEnv } from '../store/open.ts';
import type { StoreConfig } from '../store/open.ts';

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
