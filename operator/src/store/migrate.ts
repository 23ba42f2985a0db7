// Brings a store to the newest schema version, each version in its own transaction. Two
// operator replicas may start together on PostgreSQL: an advisory lock makes one wait for the
// other. SQLite's BEGIN IMMEDIATE already admits one writer.
import type { SqlEngine } from './engine.ts';
import { int } from './engine.ts';
import { MIGRATIONS, MIGRATIONS_TABLE } from './schema.ts';
import type { Migration } from './schema.ts';

/** Chosen once; any constant works as long as nothing else in the database uses it. */
const MIGRATION_LOCK = 0x61676d31;

export class StoreVersionError extends Error {
  override readonly name = 'StoreVersionError';
}

/** Applies the versions not yet applied; returns their numbers. */
export async function migrate(
  engine: SqlEngine,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<number[]> {
  await engine.exec(MIGRATIONS_TABLE);
  const latest = migrations.at(-1)?.version ?? 0;
  const applied: number[] = [];
  for (const m of migrations) {
    const done = await engine.transaction(async (tx) => {
      if (engine.dialect === 'postgres') {
        await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      }
      const rows = await tx.query<{ version: unknown }>('SELECT version FROM schema_migrations');
      const have = rows.map((r) => Number(int(r.version)));
      const newest = Math.max(0, ...have);
      if (newest > latest) {
        throw new StoreVersionError(
          `the store is at schema version ${newest}, newer than this operator knows (${latest}): run the newer operator or restore a backup`,
        );
      }
      if (have.includes(m.version)) return false;
      await tx.exec(engine.dialect === 'postgres' ? m.postgres : m.sqlite);
      await tx.run(
        'INSERT INTO schema_migrations (version, name, applied_ns) VALUES ($1, $2, $3)',
        [m.version, m.name, BigInt(Date.now()) * 1_000_000n],
      );
      return true;
    });
    if (done) applied.push(m.version);
  }
  return applied;
}
