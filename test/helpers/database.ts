/**
 * A fresh, migrated database for one test file, on the engine the vitest project
 * selects (TEST_DB=pglite|postgres). PostgreSQL databases are created from the template
 * and dropped on close.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { type Database, openDatabase } from '../../src/db/database.js';
import { pgliteTemplatePath, pgTemplateName, urlForDatabase } from './template.js';

export const TEST_DB = (process.env.TEST_DB ?? 'pglite') as 'pglite' | 'postgres';

/**
 * Connection URL of a fresh PostgreSQL database, created from the migrated template, or
 * empty (no migrations applied) with `{ empty: true }`.
 */
export async function createPgTestDatabase(
  opts: { empty?: boolean } = {},
): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) throw new Error('TEST_DATABASE_URL is not set');
  const name = `pp_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database "${name}" template "${opts.empty ? 'template0' : pgTemplateName()}"`);
  await admin.end();
  return {
    url: urlForDatabase(adminUrl, name),
    name,
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`drop database if exists "${name}" with (force)`);
      await c.end();
    },
  };
}

/** Opens a fresh migrated database for this test file. */
export async function createTestDatabase(
  opts: { poolMax?: number; statementTimeoutMs?: number; idleTimeoutMs?: number } = {},
): Promise<Database> {
  if (TEST_DB === 'postgres') {
    const created = await createPgTestDatabase();
    const database = await openDatabase({
      databaseUrl: created.url,
      poolMax: opts.poolMax ?? 10,
      statementTimeoutMs: opts.statementTimeoutMs,
      idleTimeoutMs: opts.idleTimeoutMs,
    });
    const close = database.close.bind(database);
    database.close = async () => {
      await close();
      await created.drop();
    };
    return database;
  }
  const blob = new Blob([readFileSync(pgliteTemplatePath())]);
  return openDatabase({ loadDataDir: blob });
}
