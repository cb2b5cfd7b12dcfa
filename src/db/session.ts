/**
 * Database sessions pinned to connections, for work that keeps session state across
 * several statements and transactions (temporary tables). PGlite has a single session
 * already; on PostgreSQL pooled connections are checked out for the duration.
 */
import type pg from 'pg';
import type { Database, Db } from './database.js';
import * as schema from './schema.js';

/** Runs `fn` with a Drizzle handle bound to one connection, released afterwards. */
export async function withSession<T>(database: Database, fn: (db: Db) => Promise<T>): Promise<T> {
  return withSessions(database, 1, ([db]) => fn(db as Db));
}

/**
 * Runs `fn` with up to `n` Drizzle handles, each bound to its own connection (PGlite:
 * exactly one, its only session), so independent statements can run in parallel.
 */
export async function withSessions<T>(database: Database, n: number, fn: (dbs: Db[]) => Promise<T>): Promise<T> {
  const pool = database.pool;
  if (database.kind === 'pglite' || !pool) return fn([database.db]);
  const { drizzle } = await import('drizzle-orm/node-postgres');
  const clients: pg.PoolClient[] = [];
  let failed = false;
  try {
    for (let i = 0; i < Math.max(1, n); i++) clients.push(await pool.connect());
    return await fn(clients.map((client) => drizzle({ client, schema }) as unknown as Db));
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    // A connection that saw an error is discarded with its session state.
    for (const client of clients) client.release(failed);
  }
}
