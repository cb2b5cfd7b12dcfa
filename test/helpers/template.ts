/**
 * Migrated database templates shared by all test files: a PGlite data-dir dump, and a
 * PostgreSQL template database. Keyed by a hash of the migrations so a schema change
 * rebuilds them.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MIGRATIONS_FOLDER } from '../../src/db/migrate.js';

export function migrationsHash(): string {
  const h = createHash('sha256');
  for (const f of readdirSync(MIGRATIONS_FOLDER).sort()) {
    if (f.endsWith('.sql')) h.update(f).update(readFileSync(path.join(MIGRATIONS_FOLDER, f)));
  }
  return h.digest('hex').slice(0, 12);
}

export function pgliteTemplatePath(): string {
  return path.join(os.tmpdir(), `patientpulse-template-${migrationsHash()}.tar.gz`);
}

export function pgTemplateName(): string {
  return `pp_template_${migrationsHash()}`;
}

/** The admin connection URL with another database name. */
export function urlForDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
