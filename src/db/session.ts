/**
 * A database session pinned to one connection, for work that keeps session state across
 * several statements and transactions (temporary tables). PGlite has a single session
 * already; on PostgreSQL one pooled connection is checked out for the duration.
 */
import type { Database, Db } from './database.js';
import * as schema from './schema.js';

/** Runs `fn` with a Drizzle handle bound to one connection, released afterwards. */
export async function withSession<T>(database: Database, fn: (db: Db) => Promise<T>): Promise<T> {
  const pool = database.pool;
  if (database.kind === 'pglite' || !pool) return fn(database.db);
  const { drizzle } = await import('drizzle-orm/node-postgres');
  const client = await pool.connect();
  let failed = false;
  try {
    return await fn(drizzle({ client, schema }) as unknown as Db);
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    // A connection that saw an error is discarded with its session state.
    client.release(failed);
  }
}
