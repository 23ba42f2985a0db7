// The server engine: PostgreSQL through `pg`, for two operator replicas and for scale. A small
// pool: a collection round holds one connection for its transaction while API reads use others.
import pg from 'pg';
import type { InsertManyArgs, Row, SqlEngine, SqlRunner, SqlValue } from './engine.ts';
import { StoreQueryError } from './engine.ts';

export interface PostgresOptions {
  /** postgres://user:password@host:port/database (from a Secret, never logged). */
  readonly url: string;
  readonly maxConnections?: number;
}

/** PostgreSQL's limit of parameters per statement. */
const MAX_PARAMS = 65_535;
const MAX_ROWS_PER_STATEMENT = 1000;

/**
 * What the runner needs of a PostgreSQL connection: pg's pool or client, or another client of the
 * same dialect (the store bench runs PGlite through it). Without parameters, `text` may hold
 * several statements.
 */
export interface PgQueryable {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }>;
}

export class PostgresRunner implements SqlRunner {
  private readonly db: PgQueryable;

  constructor(db: PgQueryable) {
    this.db = db;
  }

  private async send(
    sql: string,
    params: readonly SqlValue[],
  ): Promise<Awaited<ReturnType<PgQueryable['query']>>> {
    try {
      return await this.db.query(
        sql,
        params.map((p) => (typeof p === 'bigint' ? p.toString() : p)),
      );
    } catch (err) {
      throw new StoreQueryError(sql, err, (err as { code?: string }).code === '23505');
    }
  }

  async query<R extends Row = Row>(sql: string, params: readonly SqlValue[] = []): Promise<R[]> {
    return (await this.send(sql, params)).rows as R[];
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return (await this.send(sql, params)).rowCount ?? 0;
  }

  async exec(script: string): Promise<void> {
    try {
      // Without parameters pg uses the simple protocol, which runs several statements.
      await this.db.query(script);
    } catch (err) {
      throw new StoreQueryError(script, err, false);
    }
  }

  async insertMany(...[head, width, tail, rows]: InsertManyArgs): Promise<number> {
    // Multi-row VALUES: one round trip per chunk instead of one per row.
    const perStatement = Math.min(MAX_ROWS_PER_STATEMENT, Math.floor(MAX_PARAMS / width));
    let changed = 0;
    for (let from = 0; from < rows.length; from += perStatement) {
      const chunk = rows.slice(from, from + perStatement);
      const tuples = chunk.map(
        (_, r) => `(${Array.from({ length: width }, (_, c) => `$${r * width + c + 1}`).join(',')})`,
      );
      changed += await this.run(`${head} VALUES ${tuples.join(',')} ${tail}`, chunk.flat());
    }
    return changed;
  }

  // The two below serve the engines built on this runner (SqlEngine's, not SqlRunner's).
  async sizeBytes(): Promise<bigint> {
    const [row] = await this.query<{ bytes: string }>(
      'SELECT pg_database_size(current_database()) AS bytes',
    );
    return BigInt(row?.bytes ?? 0);
  }

  async version(): Promise<string> {
    const [row] = await this.query<{ v: string }>("SELECT current_setting('server_version') AS v");
    return `PostgreSQL ${row?.v ?? '?'}`;
  }
}

export class PostgresEngine extends PostgresRunner implements SqlEngine {
  readonly dialect = 'postgres' as const;
  private readonly pool: pg.Pool;

  constructor(options: PostgresOptions) {
    const pool = new pg.Pool({ connectionString: options.url, max: options.maxConnections ?? 4 });
    super(pool);
    this.pool = pool;
    // An idle connection the server dropped must not crash the process; the next query reconnects.
    this.pool.on('error', () => undefined);
  }

  async transaction<T>(work: (tx: SqlRunner) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    // A connection whose transaction could not be begun, committed or rolled back is closed,
    // not given back to the pool.
    let broken: Error | undefined;
    try {
      await client.query('BEGIN').catch((e: Error) => {
        broken = e;
        throw new StoreQueryError('BEGIN', e, false);
      });
      let out: T;
      try {
        out = await work(new PostgresRunner(client));
      } catch (err) {
        await client.query('ROLLBACK').catch((e: Error) => {
          broken = e;
        });
        throw err;
      }
      await client.query('COMMIT').catch((e: Error) => {
        broken = e;
        throw new StoreQueryError('COMMIT', e, false);
      });
      return out;
    } finally {
      client.release(broken);
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
