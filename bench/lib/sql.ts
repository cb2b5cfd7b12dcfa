/**
 * Raw SQL access for set-up and baselines, on either engine. The schema comes from the
 * project's own migrations, so the bench measures the tables the application uses.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Database, openDatabase } from '../../src/db/database.js';
import { MIGRATIONS_FOLDER, runMigrations } from '../../src/db/migrate.js';
import type { BenchContext } from './context.js';
import type { DbKind } from './types.js';

export type DbTarget = { kind: 'postgres'; url: string } | { kind: 'pglite'; dataDir: string };

export interface Sql {
  kind: DbKind;
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Several statements, no parameters. */
  exec(text: string): Promise<void>;
  close(): Promise<void>;
}

function wrap(database: Database): Sql {
  const { pool, pglite } = database;
  if (pool) {
    return {
      kind: 'postgres',
      async query<T>(text: string, params: unknown[] = []) {
        return (await pool.query(text, params)).rows as T[];
      },
      async exec(text: string) {
        await pool.query(text);
      },
      close: () => database.close(),
    };
  }
  if (!pglite) throw new Error('database without a driver handle');
  return {
    kind: 'pglite',
    async query<T>(text: string, params: unknown[] = []) {
      return (await pglite.query<T>(text, params)).rows;
    },
    async exec(text: string) {
      await pglite.exec(text);
    },
    close: () => database.close(),
  };
}

/** Opens the target and applies the project's migrations. */
export async function openSql(target: DbTarget): Promise<Sql> {
  const database =
    target.kind === 'postgres'
      ? await openDatabase({ databaseUrl: target.url, poolMax: 4, applicationName: 'patientpulse-bench' })
      : await openDatabase({ dataDir: target.dataDir });
  try {
    await runMigrations(database);
  } catch (err) {
    await database.close();
    throw err;
  }
  return wrap(database);
}

/** Milliseconds taken by `fn`. */
export async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** Hash of the migration files (the same key the test templates use). */
function migrationsHash(): string {
  const h = createHash('sha256');
  for (const f of readdirSync(MIGRATIONS_FOLDER).sort()) {
    if (f.endsWith('.sql')) h.update(f).update(readFileSync(path.join(MIGRATIONS_FOLDER, f)));
  }
  return h.digest('hex').slice(0, 12);
}

function pgliteVersion(): string {
  try {
    const pkg = path.join(import.meta.dirname, '..', '..', 'node_modules', '@electric-sql', 'pglite', 'package.json');
    return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * A migrated, empty PGlite data directory kept in the system temp folder between runs,
 * keyed by the migrations and the PGlite version: creating a PGlite database from scratch
 * costs tens of seconds of WASM work on a busy machine. When the test suite's template
 * dump exists, it is the starting point.
 */
async function pgliteTemplateDir(): Promise<string> {
  const hash = migrationsHash();
  const dir = path.join(os.tmpdir(), `patientpulse-bench-pglite-${hash}-${pgliteVersion()}`);
  if (existsSync(path.join(dir, 'pgdata', 'PG_VERSION'))) return dir;
  const building = `${dir}.build-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  const testDump = path.join(os.tmpdir(), `patientpulse-template-${hash}.tar.gz`);
  const database = await openDatabase({
    dataDir: building,
    ...(existsSync(testDump) ? { loadDataDir: new Blob([readFileSync(testDump)]) } : {}),
  });
  try {
    await runMigrations(database);
  } finally {
    await database.close();
  }
  try {
    renameSync(building, dir);
  } catch {
    rmSync(building, { recursive: true, force: true }); // another run finished first
  }
  return dir;
}

/** A fresh, migrated PGlite data directory under the work directory (a template copy). */
export async function freshPgliteDir(ctx: BenchContext, name: string): Promise<string> {
  const template = await ctx.fixture('pglite-template', async () => ({
    value: await pgliteTemplateDir(),
    close: async () => {},
  }));
  const dir = ctx.dir(name);
  rmSync(dir, { recursive: true, force: true });
  cpSync(template, dir, { recursive: true });
  rmSync(path.join(dir, 'pgdata.lock'), { force: true });
  return dir;
}
