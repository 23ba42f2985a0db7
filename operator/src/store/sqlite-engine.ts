// The embedded engine: Node's built-in SQLite (node:sqlite), chosen over PGlite by measurement
// (README, "Store"). One connection; node:sqlite is synchronous, so a transaction that awaits
// between statements would let another caller's statement join it: every statement and
// transaction takes its turn through one queue.
import { DatabaseSync } from 'node:sqlite';
import type { SQLInputValue, StatementSync } from 'node:sqlite';
import type { InsertManyArgs, Row, SqlEngine, SqlRunner, SqlValue } from './engine.ts';
import { StoreQueryError } from './engine.ts';

export interface SqliteOptions {
  /** The database file; its directory must exist. */
  readonly path: string;
  /** Page cache in KiB (default 16 MiB). */
  readonly cacheKiB?: number;
}

// SQLITE_CONSTRAINT_UNIQUE and SQLITE_CONSTRAINT_PRIMARYKEY (extended result codes).
const UNIQUE_CODES = new Set([2067, 1555]);

/** $1 → ?1: SQLite's numbered parameters bind by position as PostgreSQL's do. */
const numbered = (sql: string): string => sql.replace(/\$(\d+)/g, '?$1');

class SqliteRunner implements SqlRunner {
  private readonly statements = new Map<string, StatementSync>();

  private readonly db: DatabaseSync;

  constructor(db: DatabaseSync) {
    this.db = db;
  }

  private statement(sql: string): StatementSync {
    let st = this.statements.get(sql);
    if (st === undefined) {
      st = this.db.prepare(numbered(sql));
      st.setReadBigInts(true);
      this.statements.set(sql, st);
    }
    return st;
  }

  private guard<T>(sql: string, work: () => T): T {
    try {
      return work();
    } catch (err) {
      const code = (err as { errcode?: number }).errcode;
      throw new StoreQueryError(sql, err, code !== undefined && UNIQUE_CODES.has(code));
    }
  }

  async query<R extends Row = Row>(sql: string, params: readonly SqlValue[] = []): Promise<R[]> {
    return this.guard(sql, () => this.statement(sql).all(...(params as SQLInputValue[])) as R[]);
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return this.guard(sql, () =>
      Number(this.statement(sql).run(...(params as SQLInputValue[])).changes),
    );
  }

  async exec(script: string): Promise<void> {
    this.guard(script, () => this.db.exec(script));
  }

  async insertMany(...[head, width, tail, rows]: InsertManyArgs): Promise<number> {
    // In process a prepared statement per row costs no round trip: the simplest fast form.
    const values = Array.from({ length: width }, (_, i) => `$${i + 1}`).join(', ');
    const sql = `${head} VALUES (${values}) ${tail}`;
    return this.guard(sql, () => {
      const st = this.statement(sql);
      let changed = 0;
      for (const row of rows) changed += Number(st.run(...(row as SQLInputValue[])).changes);
      return changed;
    });
  }
}

export class SqliteEngine implements SqlEngine {
  readonly dialect = 'sqlite' as const;
  private readonly db: DatabaseSync;
  private readonly runner: SqliteRunner;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: SqliteOptions) {
    this.db = new DatabaseSync(options.path);
    // WAL with synchronous=FULL: a commit is on disk before the operator moves on, so a crash
    // loses no committed round. busy_timeout covers a second process (the CLI) reading.
    this.db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
      PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;
      PRAGMA cache_size = -${options.cacheKiB ?? 16384};`);
    this.runner = new SqliteRunner(this.db);
  }

  /** Runs `work` after everything queued before it. */
  private turn<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  query<R extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<R[]> {
    return this.turn(() => this.runner.query<R>(sql, params));
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return this.turn(() => this.runner.run(sql, params));
  }

  exec(script: string): Promise<void> {
    return this.turn(() => this.runner.exec(script));
  }

  insertMany(
    head: string,
    width: number,
    tail: string,
    rows: readonly (readonly SqlValue[])[],
  ): Promise<number> {
    return this.turn(() => this.runner.insertMany(head, width, tail, rows));
  }

  transaction<T>(work: (tx: SqlRunner) => Promise<T>): Promise<T> {
    return this.turn(async () => {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const out = await work(this.runner);
        this.db.exec('COMMIT');
        return out;
      } catch (err) {
        this.db.exec('ROLLBACK');
        throw err;
      }
    });
  }

  async sizeBytes(): Promise<bigint> {
    const [row] = await this.query<{ bytes: bigint }>(
      'SELECT page_count * page_size AS bytes FROM pragma_page_count(), pragma_page_size()',
    );
    return row?.bytes ?? 0n;
  }

  async version(): Promise<string> {
    const [row] = await this.query<{ v: string }>('SELECT sqlite_version() AS v');
    return `SQLite ${row?.v ?? '?'} (node:sqlite)`;
  }

  async close(): Promise<void> {
    await this.turn(async () => {
      this.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
      this.db.close();
    });
  }
}
