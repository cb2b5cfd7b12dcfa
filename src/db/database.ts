/**
 * Opens the database: an embedded PGlite under DATA_DIR by default, or a PostgreSQL pool
 * when DATABASE_URL is set. Both are driven through the same Drizzle schema and queries.
 */
import path from 'node:path';
import type { PGlite as PGliteType } from '@electric-sql/pglite';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import type pg from 'pg';
import { makePrivateDataDir } from './data-dir.js';
import { acquireDataDirLock, type DataDirLock } from './data-dir-lock.js';
import * as schema from './schema.js';

/** The Drizzle database type both drivers satisfy. */
export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

/** A transaction handle, usable wherever a {@link Db} is. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/** Either a database or an open transaction. */
export type DbOrTx = Db | Tx;

export type DatabaseKind = 'pglite' | 'postgres';

/** An open database with its lifecycle. */
export interface Database {
  kind: DatabaseKind;
  db: Db;
  /**
   * The handle for long-running background work (analytics runs). On PostgreSQL a second,
   * small pool without the request timeouts: the pool's client-side read timeout cannot be
   * lifted per query, and a full recompute over millions of readings outlasts it. On PGlite,
   * the same handle as `db`.
   */
  jobsDb: Db;
  /** Where the data lives, for logs (never includes credentials). */
  location: string;
  /** Pool statistics (PostgreSQL only). */
  poolStats(): { total: number; idle: number; waiting: number } | undefined;
  /** Cheap round trip used by readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
  /** Raw PGlite handle (embedded only); used by tests for cloning. */
  pglite?: PGliteType;
  /** Raw pg pool (PostgreSQL only). */
  pool?: pg.Pool;
}

export interface OpenDatabaseOptions {
  databaseUrl?: string | undefined;
  /** Directory for the embedded database; undefined means in-memory. */
  dataDir?: string | undefined;
  poolMax?: number;
  statementTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** How long an idle request connection stays open (default 30 s); job connections stay. */
  idleTimeoutMs?: number;
  /** Application name reported to PostgreSQL. */
  applicationName?: string;
  /** Preloaded data directory tarball for PGlite (tests). */
  loadDataDir?: Blob;
}

const INT8_OID = 20;

/** Opens the configured database. The caller owns it and must close it. */
export async function openDatabase(opts: OpenDatabaseOptions): Promise<Database> {
  return opts.databaseUrl ? openPostgres(opts.databaseUrl, opts) : openPglite(opts);
}

async function openPostgres(url: string, opts: OpenDatabaseOptions): Promise<Database> {
  const { default: pgLib } = await import('pg');
  const { drizzle } = await import('drizzle-orm/node-postgres');
  // int8 (ids, counts) as JS numbers: ids stay far below 2^53.
  pgLib.types.setTypeParser(INT8_OID, (v: string) => Number(v));
  const statementTimeout = opts.statementTimeoutMs || undefined;
  const applicationName = opts.applicationName ?? 'patientpulse';
  const pool = new pgLib.Pool({
    connectionString: url,
    max: opts.poolMax ?? 10,
    // Bounds both opening a connection and waiting for a free one: during an outage
    // requests fail fast (503) instead of queueing.
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 3000,
    idleTimeoutMillis: opts.idleTimeoutMs ?? 30_000,
    statement_timeout: statementTimeout,
    // Client-side bound for when the server cannot even cancel (network partition).
    query_timeout: statementTimeout === undefined ? undefined : statementTimeout + 2_000,
    application_name: applicationName,
    keepAlive: true,
  });
  // Background jobs: one run at a time per process, so two connections are plenty. They
  // are kept open between runs (0 = no idle timeout): a new backend pays for mapping the
  // shared buffers it touches, page by page, and on the benchmark machine that added about
  // 0.5 s to a v2 run of 10,000 buckets (docs/DESIGN.md, "Analytics", "Performance").
  const jobsPool = new pgLib.Pool({
    connectionString: url,
    max: 2,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 3000,
    idleTimeoutMillis: 0,
    application_name: `jobs:${applicationName}`.slice(0, 63),
    // An idle connection may sit for an hour between runs: TCP keepalives after a minute
    // keep NAT and firewall state alive and let the kernel notice a vanished server.
    keepAlive: true,
    keepAliveInitialDelayMillis: 60_000,
  });
  // A connection dropped by the server (restart, pg_terminate_backend) must not crash
  // the process; the pool discards it and the next checkout connects again. Idle
  // clients report through the pool; a checked-out client (a transaction between two
  // statements) has no listener of its own, and an unhandled 'error' event would kill
  // the process, so every client gets one. Its pending query fails with the error.
  for (const p of [pool, jobsPool]) {
    p.on('error', () => {});
    p.on('connect', (client) => client.on('error', () => {}));
  }
  const db = drizzle({ client: pool, schema }) as unknown as Db;
  const jobsDb = drizzle({ client: jobsPool, schema }) as unknown as Db;
  const parsed = new URL(url);
  return {
    kind: 'postgres',
    db,
    jobsDb,
    pool,
    location: `postgres://${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`,
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    async ping() {
      await pool.query('select 1');
    },
    async close() {
      await Promise.all([pool.end(), jobsPool.end()]);
    },
  };
}

async function openPglite(opts: OpenDatabaseOptions): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  let lock: DataDirLock | undefined;
  let dataDir: string | undefined;
  if (opts.dataDir) {
    // Before PGlite writes a byte: its files take the umask's modes, the directory guards them.
    makePrivateDataDir(opts.dataDir);
    lock = acquireDataDirLock(opts.dataDir);
    dataDir = path.join(opts.dataDir, 'pgdata');
  }
  let client: PGliteType;
  try {
    client = await PGlite.create({
      dataDir,
      loadDataDir: opts.loadDataDir,
      parsers: { [INT8_OID]: (v: string) => Number(v) },
    });
  } catch (err) {
    lock?.release();
    throw err;
  }
  const db = drizzle({ client, schema }) as unknown as Db;
  return {
    kind: 'pglite',
    db,
    jobsDb: db,
    pglite: client,
    location: dataDir ?? 'memory',
    poolStats: () => undefined,
    async ping() {
      await client.query('select 1');
    },
    async close() {
      try {
        await client.close();
      } finally {
        lock?.release();
      }
    },
  };
}

/** Runs raw SQL and returns its rows; both drivers expose them as `.rows`. */
export async function queryRows<T = Record<string, unknown>>(
  db: DbOrTx,
  query: Parameters<Db['execute']>[0],
): Promise<T[]> {
  const result = (await db.execute(query)) as unknown as { rows: T[] };
  return result.rows;
}
