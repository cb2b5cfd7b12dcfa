/**
 * Background jobs run on their own handle: on PostgreSQL a pool without the request
 * timeouts, so a full analytics recompute longer than DB_STATEMENT_TIMEOUT_MS completes.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, queryRows } from '../src/db/database.js';
import { runAnalyticsJob } from '../src/modules/analytics/analytics.jobs.js';
import { newPatient, put, silentLog } from './helpers/analytics.js';
import { createTestDatabase, TEST_DB } from './helpers/database.js';

let database: Database;
beforeAll(async () => {
  database = await createTestDatabase({ statementTimeoutMs: 300 });
});
afterAll(async () => {
  await database?.close();
});

describe('jobs handle', () => {
  it.runIf(TEST_DB === 'postgres')('is not bound by the request statement timeout; the request handle is', async () => {
    await expect(queryRows(database.db, sql`select pg_sleep(0.8)`)).rejects.toThrow();
    expect(await queryRows(database.jobsDb, sql`select pg_sleep(0.8), 1 as ok`)).toEqual([{ pg_sleep: '', ok: 1 }]);
    const names = await queryRows(
      database.db,
      sql`select application_name from pg_stat_activity where datname = current_database() and application_name like 'jobs:%'`,
    );
    expect(names.length).toBeGreaterThanOrEqual(1);
  });

  it.runIf(TEST_DB === 'postgres')('keeps its connection between runs; idle request connections close', async () => {
    const quick = await createTestDatabase({ idleTimeoutMs: 100 });
    try {
      const pid = async (db: Database['db']) =>
        Number((await queryRows(db, sql`select pg_backend_pid() as pid`))[0]?.pid);
      const jobBackend = await pid(quick.jobsDb);
      const requestBackend = await pid(quick.db);
      await new Promise((r) => setTimeout(r, 600));
      // The same backend serves the next job: no new connection, no cold backend.
      expect(await pid(quick.jobsDb)).toBe(jobBackend);
      const alive = await queryRows(
        quick.jobsDb,
        sql`select pid from pg_stat_activity where pid in (${jobBackend}, ${requestBackend}) order by pid`,
      );
      expect(alive).toEqual([{ pid: jobBackend }]);
    } finally {
      await quick.close();
    }
  });

  it.runIf(TEST_DB === 'pglite')('is the embedded database itself', () => {
    expect(database.jobsDb).toBe(database.db);
  });

  it('runs the analytics job', async () => {
    const p = await newPatient(database.db);
    await put(database.db, p, 'weight', '2025-09-01T08:15:00Z', 70);
    const outcome = await runAnalyticsJob(
      { db: database.jobsDb, log: silentLog, now: () => new Date(), instanceId: 'jobs' },
      { version: 1, trigger: 'manual' },
    );
    expect(outcome.ran && outcome.run).toMatchObject({ status: 'succeeded', bucketsTouched: 1, rowsConsumed: 1 });
  });
});
