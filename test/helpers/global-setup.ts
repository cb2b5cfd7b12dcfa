/** Builds the migrated templates once per `vitest` run. */
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import { openDatabase } from '../../src/db/database.js';
import { runMigrations } from '../../src/db/migrate.js';
import { pgliteTemplatePath, pgTemplateName, urlForDatabase } from './template.js';

async function buildPgliteTemplate(): Promise<void> {
  const file = pgliteTemplatePath();
  if (existsSync(file)) return;
  const database = await openDatabase({});
  await runMigrations(database);
  const dump = await database.pglite?.dumpDataDir('gzip');
  if (!dump) throw new Error('PGlite dump failed');
  const tmp = `${file}.${process.pid}`;
  writeFileSync(tmp, Buffer.from(await dump.arrayBuffer()));
  renameSync(tmp, file);
  await database.close();
}

async function buildPgTemplate(url: string): Promise<void> {
  const name = pgTemplateName();
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    const exists = await admin.query('select 1 from pg_database where datname = $1', [name]);
    if (exists.rowCount) return;
    const building = `${name}_build_${process.pid}`;
    await admin.query(`create database "${building}"`);
    const database = await openDatabase({ databaseUrl: urlForDatabase(url, building), poolMax: 2 });
    await runMigrations(database);
    await database.close();
    try {
      await admin.query(`alter database "${building}" rename to "${name}"`);
    } catch {
      // Another run built the same template at the same time: keep theirs.
      await admin.query(`drop database if exists "${building}"`);
    }
  } finally {
    await admin.end();
  }
}

export default async function setup(): Promise<void> {
  await buildPgliteTemplate();
  if (process.env.TEST_DATABASE_URL) await buildPgTemplate(process.env.TEST_DATABASE_URL);
}
