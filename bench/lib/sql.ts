/**
 * Raw SQL access for set-up and baselines, on either engine. The schema comes from the
 * project's own migrations, so the bench measures the tables the application uses.
 */
import { type Database, openDatabase } from '../../src/db/database.js';
import { runMigrations } from '../../src/db/migrate.js';
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
