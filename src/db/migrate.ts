/**
 * Applies the committed drizzle-kit migrations. On PostgreSQL, instances starting at once
 * serialize on an advisory lock so each migration is applied exactly once.
 */
import { fileURLToPath } from 'node:url';
import type { Database } from './database.js';

/** Folder of generated SQL migrations (same relative place from src/ and dist/). */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

/** Advisory lock key shared by every instance for migrations ("PPMI"). */
const MIGRATION_LOCK_KEY = 0x50504d49;
/** Advisory lock key for the rest of the start-up work ("PPST"). */
const STARTUP_LOCK_KEY = 0x50505354;

/** Applies pending migrations; safe to call from several processes at once. */
export async function runMigrations(database: Database): Promise<void> {
  if (database.kind === 'pglite') {
    const { migrate } = await import('drizzle-orm/pglite/migrator');
    // biome-ignore lint/suspicious/noExplicitAny: the driver-specific type is erased in Database
    await migrate(database.db as any, { migrationsFolder: MIGRATIONS_FOLDER });
    return;
  }
  const { migrate } = await import('drizzle-orm/node-postgres/migrator');
  await withAdvisoryLock(database, MIGRATION_LOCK_KEY, async () => {
    // biome-ignore lint/suspicious/noExplicitAny: the driver-specific type is erased in Database
    await migrate(database.db as any, { migrationsFolder: MIGRATIONS_FOLDER });
  });
}

/**
 * Runs one-time start-up work (bootstrap admin key, sample load) while holding a
 * cluster-wide lock, so instances starting at once on one PostgreSQL database do it one
 * after another and each sees what the previous one did. The embedded database belongs
 * to one process already (data-directory lock), so there it just runs `fn`.
 */
export async function withStartupLock<T>(database: Database, fn: () => Promise<T>): Promise<T> {
  return database.kind === 'pglite' ? fn() : withAdvisoryLock(database, STARTUP_LOCK_KEY, fn);
}

/** Holds a session-level advisory lock on a dedicated connection while `fn` runs on the pool. */
async function withAdvisoryLock<T>(database: Database, key: number, fn: () => Promise<T>): Promise<T> {
  const pool = database.pool;
  if (!pool) throw new Error('PostgreSQL database without a pool');
  const client = await pool.connect();
  let lostConnection: Error | undefined;
  try {
    await client.query('select pg_advisory_lock($1)', [key]);
    try {
      return await fn();
    } finally {
      // When the connection died the lock went with it; the client is then discarded.
      await client.query('select pg_advisory_unlock($1)', [key]).catch((err: Error) => {
        lostConnection = err;
      });
    }
  } finally {
    client.release(lostConnection);
  }
}
