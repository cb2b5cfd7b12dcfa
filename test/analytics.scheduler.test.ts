import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import type { Database } from '../src/db/database.js';
import { storedBuckets } from '../src/modules/analytics/analytics.engine.js';
import { runAnalyticsJob, waitForAnalyticsIdle } from '../src/modules/analytics/analytics.jobs.js';
import { listRuns } from '../src/modules/analytics/analytics.runs.repository.js';
import { startAnalyticsScheduler } from '../src/modules/analytics/analytics.scheduler.js';
import { createAppMetrics } from '../src/modules/metrics/metrics.registry.js';
import { startServer } from '../src/startup.js';
import { APP_VERSION } from '../src/version.js';
import { newPatient, put, silentLog } from './helpers/analytics.js';
import { createPgTestDatabase, createTestDatabase, TEST_DB } from './helpers/database.js';

let database: Database;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

/** Polls until `check` returns a value (the scheduler works on wall-clock time). */
async function eventually<T>(check: () => Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 150; i++) {
    const v = await check();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('scheduler', () => {
  it('runs the job on its cron schedule (seconds allowed) and stops cleanly', async () => {
    const db = database.db;
    const p = await newPatient(db);
    await put(db, p, 'glucose', '2025-03-03T03:03:03Z', 33);
    const metrics = createAppMetrics({ database, version: APP_VERSION });
    const deps = { db, log: silentLog, now: () => new Date(), instanceId: 'sched', metrics };
    const scheduler = startAnalyticsScheduler(deps, { schedule: '* * * * * *', version: 2 });
    try {
      const run = await eventually(async () => {
        const { rows } = await listRuns(db, 10, 0);
        return rows.find((r) => r.trigger === 'scheduled' && r.instance === 'sched');
      }, 'a scheduled run');
      expect(run).toMatchObject({ version: 2, status: 'succeeded' });
    } finally {
      await scheduler.stop();
    }
    // Every tick is counted: the first one succeeded; later ones in the same second are covered (skipped).
    const [counter] = (await metrics.analyticsRuns.get()).values.filter((v) => v.labels.status === 'succeeded');
    expect(counter?.labels).toEqual({ version: '2', status: 'succeeded' });
    expect(counter?.value).toBeGreaterThanOrEqual(1);
    expect(await storedBuckets(db, [p])).toEqual([
      {
        patientId: p,
        type: 'glucose',
        bucketStart: new Date('2025-03-03T03:00:00Z'),
        min: 33,
        max: 33,
        sum: 33,
        count: 1,
      },
    ]);
  });

  it('waiting for idle resolves only after the run in flight has finished', async () => {
    const deps = { db: database.db, log: silentLog, now: () => new Date(), instanceId: 'slow' };
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let locked: () => void = () => {};
    const isLocked = new Promise<void>((r) => {
      locked = r;
    });
    const running = runAnalyticsJob(deps, {
      version: 1,
      trigger: 'scheduled',
      hooks: {
        onLocked: async () => {
          locked();
          await gate;
        },
      },
    });
    await isLocked;
    const events: string[] = [];
    const idle = waitForAnalyticsIdle(database.db).then(() => events.push('idle'));
    await new Promise((r) => setTimeout(r, 50));
    events.push('released');
    release();
    const outcome = await running;
    await idle;
    expect(events).toEqual(['released', 'idle']);
    expect(outcome.ran && outcome.run.status).toBe('succeeded');
  });
});

describe('server start-up', () => {
  it('runs the job once after start-up, before reporting ready, and shuts the scheduler down', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pp-analytics-'));
    const pg = TEST_DB === 'postgres' ? await createPgTestDatabase() : undefined;
    const adminKey = '6f1d0c9a7be24e83a5f7c2d91e4b08a3c6d5f2e1b7a94c08';
    const config = loadConfig({
      LOG_LEVEL: 'silent',
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dir,
      ADMIN_API_KEY: adminKey,
      ETL_ON_STARTUP: 'false',
      ANALYTICS_SCHEDULER: 'true',
      ANALYTICS_VERSION: '2',
      ANALYTICS_CRON_SCHEDULE: '0 0 1 1 *',
      ...(pg ? { DATABASE_URL: pg.url } : {}),
    });
    const server = await startServer(config);
    try {
      const res = await server.app.inject({
        method: 'GET',
        url: '/api/v1/analytics/runs',
        headers: { authorization: `Bearer ${adminKey}` },
      });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({
        total: 1,
        items: [{ trigger: 'startup', version: 2, status: 'succeeded', rows_consumed: 0, buckets_touched: 0 }],
      });
      // The start-up run is counted in the server's metrics.
      const scraped = await server.app.inject({
        method: 'GET',
        url: '/metrics',
        headers: { authorization: `Bearer ${adminKey}` },
      });
      expect(scraped.statusCode).toBe(200);
      expect(scraped.body).toContain('\npatientpulse_analytics_runs_total{version="2",status="succeeded"} 1\n');
      expect(scraped.body).toContain(
        '\npatientpulse_analytics_run_duration_seconds_count{version="2",status="succeeded"} 1\n',
      );
    } finally {
      await server.stop();
      await pg?.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
