// PGlite (PostgreSQL in WASM, in process) as a store engine, for the engine comparison only: the
// operator's own PostgreSQL runner sends the statements, PGlite answers in pg's shape.
import { PGlite } from '@electric-sql/pglite';
import type { Transaction } from '@electric-sql/pglite';
import { PostgresRunner } from '../../../operator/src/store/postgres-engine.ts';
import type { PgQueryable } from '../../../operator/src/store/postgres-engine.ts';
import type { Row, SqlEngine, SqlRunner, SqlValue } from '../../../operator/src/store/engine.ts';

export interface PgliteOptions {
  readonly dataDir: string;
  /** Extra `-c name=value` server settings, e.g. shared_buffers=32MB. */
  readonly settings: readonly string[];
}

function pgShaped(db: PGlite | Transaction): PgQueryable {
  return {
    async query(text, values) {
      // pg runs a parameterless text as a script (simple protocol); PGlite's exec does that.
      if (values === undefined) {
        await db.exec(text);
        return { rows: [], rowCount: null };
      }
      const r = await db.query(text, values);
      return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
    },
  };
}

export class PgliteEngine implements SqlEngine {
  readonly dialect = 'postgres' as const;
  private readonly db: PGlite;
  private readonly runner: PostgresRunner;

  private constructor(db: PGlite) {
    this.db = db;
    this.runner = new PostgresRunner(pgShaped(db));
  }

  static async open(options: PgliteOptions): Promise<PgliteEngine> {
    const db = await PGlite.create({
      dataDir: options.dataDir,
      startParams: [...PGlite.defaultStartParams, ...options.settings.flatMap((s) => ['-c', s])],
    });
    return new PgliteEngine(db);
  }

  query<R extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<R[]> {
    return this.runner.query<R>(sql, params);
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return this.runner.run(sql, params);
  }

  exec(script: string): Promise<void> {
    return this.runner.exec(script);
  }

  insertMany(
    head: string,
    width: number,
    tail: string,
    rows: readonly (readonly SqlValue[])[],
  ): Promise<number> {
    return this.runner.insertMany(head, width, tail, rows);
  }

  transaction<T>(work: (tx: SqlRunner) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => work(new PostgresRunner(pgShaped(tx))));
  }

  async sizeBytes(): Promise<bigint> {
    const [row] = await this.query<{ bytes: string }>(
      'SELECT pg_database_size(current_database()) AS bytes',
    );
    return BigInt(row?.bytes ?? 0);
  }

  async version(): Promise<string> {
    const [row] = await this.query<{ v: string }>('SELECT version() AS v');
    return `PGlite: ${row?.v ?? '?'}`;
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
