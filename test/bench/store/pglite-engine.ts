// PGlite (PostgreSQL in WASM, in process) as a store engine, for the engine comparison only: the
// operator's own PostgreSQL runner sends the statements, PGlite answers in pg's shape.
import { PGlite } from '@electric-sql/pglite';
import type { Transaction } from '@electric-sql/pglite';
import { PostgresRunner } from '../../../operator/src/store/postgres-engine.ts';
import type { PgQueryable } from '../../../operator/src/store/postgres-engine.ts';
import type { SqlEngine, SqlRunner } from '../../../operator/src/store/engine.ts';

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

export class PgliteEngine extends PostgresRunner implements SqlEngine {
  readonly dialect = 'postgres' as const;
  private readonly pglite: PGlite;

  private constructor(db: PGlite) {
    super(pgShaped(db));
    this.pglite = db;
  }

  static async open(options: PgliteOptions): Promise<PgliteEngine> {
    const db = await PGlite.create({
      dataDir: options.dataDir,
      startParams: [...PGlite.defaultStartParams, ...options.settings.flatMap((s) => ['-c', s])],
    });
    return new PgliteEngine(db);
  }

  transaction<T>(work: (tx: SqlRunner) => Promise<T>): Promise<T> {
    return this.pglite.transaction((tx) => work(new PostgresRunner(pgShaped(tx))));
  }

  override async version(): Promise<string> {
    return `PGlite ${await super.version()}`;
  }

  close(): Promise<void> {
    return this.pglite.close();
  }
}
