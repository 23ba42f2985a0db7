// What the accounting store asks of a SQL engine. Statements are written once with numbered
// parameters ($1, $2, ...); each engine binds them its own way. Integers may come back as
// number, bigint or decimal string depending on the engine: read them with `int()`.

export type SqlValue = string | number | bigint | Uint8Array | null;
export type Row = Record<string, unknown>;

export interface SqlRunner {
  query<R extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<R[]>;
  /** Rows changed by one INSERT, UPDATE or DELETE. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /** A script of several statements without parameters (a migration). */
  exec(script: string): Promise<void>;
  /**
   * `head VALUES (...), (...) tail` for every row, in as few statements as the engine likes;
   * returns the rows changed. Every row has `width` values.
   */
  insertMany(...args: InsertManyArgs): Promise<number>;
}

/** What `SqlRunner.insertMany` takes: the statement around the rows, their width, the rows. */
export type InsertManyArgs = [
  head: string,
  width: number,
  tail: string,
  rows: readonly (readonly SqlValue[])[],
];

export type Dialect = 'postgres' | 'sqlite';

export interface SqlEngine extends SqlRunner {
  readonly dialect: Dialect;
  /** Runs `work` in one transaction: all of it commits, or none of it. */
  transaction<T>(work: (tx: SqlRunner) => Promise<T>): Promise<T>;
  /** Bytes the store takes on disk (its database, not the server's other databases). */
  sizeBytes(): Promise<bigint>;
  version(): Promise<string>;
  close(): Promise<void>;
}

/** A statement the engine refused, with the statement's start for context. */
export class StoreQueryError extends Error {
  override readonly name = 'StoreQueryError';
  /** A unique or primary-key constraint refused the row. */
  readonly uniqueViolation: boolean;

  constructor(sql: string, cause: unknown, uniqueViolation: boolean) {
    const text = sql.replace(/\s+/g, ' ').trim().slice(0, 160);
    super(`${(cause as Error).message ?? String(cause)} (in: ${text})`, { cause });
    this.uniqueViolation = uniqueViolation;
  }
}

export function int(value: unknown): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
  if (value === null || value === undefined) return 0n;
  throw new TypeError(`not an integer from the store: ${String(value)}`);
}
