/**
 * Applies the committed drizzle-kit migrations. On PostgreSQL, instances starting at once
 * serialize on an advisory lock so each migration is applied exactly once.
 */
import { fileURLToPath } from 'node:url';
import type { Database } from './database.js';

/** Folder of generated SQL migrations (same relative place from src/ and dist/). */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

/** Advisory lock key shared by every instance for migrations ("PPMIGRAT"). */
const MIGRATION_LOCK_KEY = 0x50504d49;

/** Applies pending migrations; safe to call from several processes at once. */
export async function runMigrations(database: Database): Promise<void> {
  if (database.kind === 'pglite') {
    const { migrate } = await import('drizzle-orm/pglite/migrator');
    // biome-ignore lint/suspicious/noExplicitAny: the driver-specific type is erased in Database
    await migrate(database.db as any, { migrationsFolder: MIGRATIONS_FOLDER });
    return;
  }
  const pool = database.pool;
  if (!pool) throw new Error('PostgreSQL database without a pool');
  const { migrate } = await import('drizzle-orm/node-postgres/migrator');
  const client = await pool.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      // biome-ignore lint/suspicious/noExplicitAny: the driver-specific type is erased in Database
      await migrate(database.db as any, { migrationsFolder: MIGRATIONS_FOLDER });
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    client.release();
  }
}
