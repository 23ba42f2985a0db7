// Where the store-backed commands read: `--store PATH|postgres://URL`, else the operator's own
// environment (AGENTMETER_STORE_URL, AGENTMETER_STORE_PATH).
import type { AccountingStore } from '../store/accounting.ts';
import { openStore, storeConfigFromEnv } from '../store/open.ts';
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
  const store = await openStore(storeConfig(flag, process.env));
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}
