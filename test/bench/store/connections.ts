// The two ways to run PostgreSQL's dialect: the `pg` client to a server, and PGlite in process.
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import type { Sql, SqlConnection, SqlResult } from './postgres-store.ts';

export async function pgConnection(config: pg.ClientConfig): Promise<SqlConnection> {
  const client = new pg.Client(config);
  await client.connect();
  const query = async <R>(text: string, params?: unknown[]): Promise<SqlResult<R>> => {
    const r = await client.query(text, params);
    return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
  };
  const exec = async (script: string): Promise<void> => {
    await client.query(script);
  };
  return {
    query,
    exec,
    async transaction<T>(work: (tx: Sql) => Promise<T>): Promise<T> {
      await client.query('BEGIN');
      try {
        const out = await work({ query, exec });
        await client.query('COMMIT');
        return out;
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    },
    close: () => client.end(),
  };
}

export interface PgliteOptions {
  readonly dataDir: string;
  /** Extra `-c name=value` server settings, e.g. shared_buffers=32MB. */
  readonly settings: readonly string[];
}

/** PGlite and its transactions answer in their own shape; this is the store's. */
function sqlOf(db: Pick<PGlite, 'query' | 'exec'>): Sql {
  return {
    async exec(script: string): Promise<void> {
      await db.exec(script);
    },
    async query<R>(text: string, params?: unknown[]): Promise<SqlResult<R>> {
      const r = await db.query<R>(text, params);
      return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
    },
  };
}

export async function pgliteConnection(options: PgliteOptions): Promise<SqlConnection> {
  const db = await PGlite.create({
    dataDir: options.dataDir,
    startParams: [...PGlite.defaultStartParams, ...options.settings.flatMap((s) => ['-c', s])],
  });
  const sql = sqlOf(db);
  return {
    query: sql.query,
    exec: sql.exec,
    transaction: <T>(work: (tx: Sql) => Promise<T>): Promise<T> =>
      db.transaction(async (tx) => work(sqlOf(tx))),
    close: () => db.close(),
  };
}
