// Opens the configured store engine and brings its schema up to date.
import { AccountingStore } from './accounting.ts';
import type { SqlEngine } from './engine.ts';

export type StoreConfig =
  | { readonly engine: 'sqlite'; readonly path: string }
  | { readonly engine: 'postgres'; readonly url: string };

export class StoreOpenError extends Error {
  override readonly name = 'StoreOpenError';
}

/** Where the store is, from the environment the chart sets (the URL comes from a Secret). */
export function storeConfigFromEnv(env: NodeJS.ProcessEnv): StoreConfig {
  const url = env.AGENTMETER_STORE_URL;
  if (url !== undefined && url !== '') {
    if (!/^postgres(ql)?:\/\//.test(url)) {
      throw new StoreOpenError('AGENTMETER_STORE_URL must be a postgres:// or postgresql:// URL');
    }
    return { engine: 'postgres', url };
  }
  return { engine: 'sqlite', path: env.AGENTMETER_STORE_PATH ?? '/var/lib/agentmeter/store.db' };
}

export async function openStore(config: StoreConfig): Promise<AccountingStore> {
  // Loaded on demand: a single replica on SQLite never loads pg, and the reverse.
  let engine: SqlEngine;
  try {
    if (config.engine === 'sqlite') {
      const { SqliteEngine } = await import('./sqlite-engine.ts');
      engine = new SqliteEngine({ path: config.path });
    } else {
      const { PostgresEngine } = await import('./postgres-engine.ts');
      engine = new PostgresEngine({ url: config.url });
    }
  } catch (err) {
    const where = config.engine === 'sqlite' ? config.path : 'the PostgreSQL URL';
    throw new StoreOpenError(`cannot open the ${config.engine} store at ${where}: ${String(err)}`, {
      cause: err,
    });
  }
  const store = new AccountingStore(engine);
  try {
    await store.migrate();
  } catch (err) {
    await engine.close();
    throw err;
  }
  return store;
}
