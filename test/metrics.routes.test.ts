import { count, eq } from 'drizzle-orm';
import { register as globalRegistry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { analyticsRuns, auditEvents, biometricsHourly } from '../src/db/schema.js';
import { runAnalyticsJob } from '../src/modules/analytics/analytics.jobs.js';
import { createAppMetrics } from '../src/modules/metrics/metrics.registry.js';
import { APP_VERSION } from '../src/version.js';
import { silentLog } from './helpers/analytics.js';
import { createTestApp, type TestApp, testConfig, uniqueEmail } from './helpers/app.js';
import { createTestDatabase, TEST_DB } from './helpers/database.js';
import { expectProblem } from './helpers/problem.js';

/** Parses Prometheus text into `name{labels}` -> value (HELP and TYPE lines skipped). */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

async function scrape(key: string | null = t.adminKey) {
  const res = await t.call(key, { method: 'GET', url: '/metrics' });
  expect(res.statusCode).toBe(200);
  return res;
}

async function createPatient(): Promise<number> {
  const res = await t.call(t.adminKey, {
    method: 'POST',
    url: '/api/v1/patients',
    payload: { name: 'Metric Patient', dob: '1960-02-03', gender: 'female', email: uniqueEmail('metrics') },
  });
  expect(res.statusCode).toBe(201);
  return res.json().id;
}

describe('GET /metrics permissions', () => {
  it('needs a key: 401 without one, 403 for a role without metrics:read', async () => {
    const anonymous = await t.call(null, { method: 'GET', url: '/metrics' });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(anonymous.json()).toMatchObject({ status: 401, code: 'unauthorized' });
    for (const role of ['reader', 'clinician', 'device'] as const) {
      const res = await t.call(await t.key(role), { method: 'GET', url: '/metrics' });
      expect(res.statusCode, role).toBe(403);
      expect(res.json()).toMatchObject({ status: 403, code: 'forbidden' });
    }
  });

  it('serves Prometheus text to the metrics role (bearer token) and to admins, without auditing scrapes', async () => {
    const metricsKey = await t.key('metrics');
    for (const key of [metricsKey, t.adminKey]) {
      const res = await scrape(key);
      expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toContain('# TYPE http_requests_total counter');
    }
    // Denied attempts are audited like any other; successful scrapes touch no patient data and are not.
    const audited = await t.database.db
      .select({ outcome: auditEvents.outcome })
      .from(auditEvents)
      .where(eq(auditEvents.route, '/metrics'));
    expect(audited.filter((a) => a.outcome !== 'denied')).toEqual([]);
  });

  it('is open to anyone when METRICS_PUBLIC=true', async () => {
    const open = await createTestApp({ env: { METRICS_PUBLIC: 'true' }, database: t.database });
    try {
      const res = await open.call(null, { method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(200);
      expect(res.body).toContain('patientpulse_build_info');
    } finally {
      await open.close();
    }
  });
});

describe('GET /metrics content', () => {
  it('counts requests by method, route template and status code, never by raw URL', async () => {
    const id = await createPatient();
    await t.call(t.adminKey, { method: 'GET', url: `/api/v1/patients/${id}` });
    await t.call(t.adminKey, { method: 'GET', url: `/api/v1/patients/${id}` });
    await t.call(t.adminKey, { method: 'GET', url: '/api/v1/patients/2147483000' });
    await t.call(null, { method: 'GET', url: '/no/such/path?email=someone@example.org' });
    const res = await scrape();
    const s = samples(res.body);
    const route = 'method="GET",route="/api/v1/patients/:id"';
    expect(s.get(`http_requests_total{${route},status_code="200"}`)).toBe(2);
    expect(s.get(`http_requests_total{${route},status_code="404"}`)).toBe(1);
    expect(s.get('http_requests_total{method="GET",route="unmatched",status_code="404"}')).toBe(1);
    expect(s.get(`http_request_duration_seconds_count{${route},status_code="200"}`)).toBe(2);
    expect(s.get(`http_request_duration_seconds_bucket{le="+Inf",${route},status_code="200"}`)).toBe(2);
    expect(s.get(`http_request_duration_seconds_sum{${route},status_code="200"}`)).toBeGreaterThan(0);
    expect(res.body).not.toContain(`/api/v1/patients/${id}"`);
    expect(res.body).not.toContain('/no/such/path');
    expect(res.body).not.toContain('example.org');
  });

  it('counts ingested readings and reports the change-buffer depth from the database', async () => {
    const before = samples((await scrape()).body).get('patientpulse_readings_ingested_total') ?? Number.NaN;
    const id = await createPatient();
    for (const [timestamp, value] of [
      ['2025-03-01T08:00:00Z', 101],
      ['2025-03-01T09:30:00Z', 99],
      ['2025-03-01T09:30:00Z', 99], // same reading again: accepted, nothing changes
    ] as const) {
      const res = await t.call(t.adminKey, {
        method: 'POST',
        url: '/api/v1/biometrics',
        payload: { patient_id: id, timestamp, type: 'glucose', value },
      });
      expect(res.statusCode).toBe(200);
    }
    const rejected = await t.call(t.adminKey, {
      method: 'POST',
      url: '/api/v1/biometrics',
      payload: { patient_id: id, timestamp: '2025-03-01T10:00:00Z', type: 'glucose', value: -5 },
    });
    expect(rejected.statusCode).toBe(422);

    const s = samples((await scrape()).body);
    expect(s.get('patientpulse_readings_ingested_total')).toBe(before + 3);
    const [buffer] = await t.database.db.select({ n: count() }).from(biometricsHourly);
    expect(buffer?.n).toBeGreaterThanOrEqual(2);
    expect(s.get('patientpulse_analytics_buffer_rows')).toBe(buffer?.n);
    expect(s.get('patientpulse_loader_rejected_rows_total')).toBe(0);
  });

  it('includes process metrics, build info and, on PostgreSQL, pool gauges', async () => {
    const s = samples((await scrape()).body);
    expect(s.get('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(s.get('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(s.get(`patientpulse_build_info{version="${APP_VERSION}",database="${TEST_DB}"}`)).toBe(1);
    if (TEST_DB === 'postgres') {
      expect(s.get('patientpulse_db_pool_connections')).toBeGreaterThanOrEqual(1);
      expect(s.get('patientpulse_db_pool_idle_connections')).toBeGreaterThanOrEqual(0);
      expect(s.get('patientpulse_db_pool_waiting_queries')).toBe(0);
    } else {
      expect([...s.keys()].some((k) => k.startsWith('patientpulse_db_pool_'))).toBe(false);
    }
  });
});

describe('analytics run metrics', () => {
  const runs = (s: Map<string, number>, status: string) =>
    s.get(`patientpulse_analytics_runs_total{version="2",status="${status}"}`) ?? 0;
  const timed = (s: Map<string, number>, status: string) =>
    s.get(`patientpulse_analytics_run_duration_seconds_count{version="2",status="${status}"}`) ?? 0;

  it('counts a run requested through the API', async () => {
    const before = samples((await scrape()).body);
    const res = await t.call(t.adminKey, { method: 'POST', url: '/api/v1/analytics/run', payload: { version: 2 } });
    expect(res.statusCode).toBe(200);
    const run = res.json();
    expect(run).toEqual({
      id: expect.any(Number),
      version: 2,
      trigger: 'manual',
      instance: expect.any(String),
      status: 'succeeded',
      started_at: expect.any(String),
      finished_at: expect.any(String),
      buckets_touched: expect.any(Number),
      rows_consumed: expect.any(Number),
      error: null,
    });
    const [stored] = await t.database.db.select().from(analyticsRuns).where(eq(analyticsRuns.id, run.id));
    expect(stored).toMatchObject({ trigger: 'manual', status: 'succeeded' });
    const after = samples((await scrape()).body);
    expect(runs(after, 'succeeded')).toBe(runs(before, 'succeeded') + 1);
    expect(timed(after, 'succeeded')).toBe(timed(before, 'succeeded') + 1);
    expect(
      after.get('patientpulse_analytics_run_duration_seconds_sum{version="2",status="succeeded"}'),
    ).toBeGreaterThan(
      before.get('patientpulse_analytics_run_duration_seconds_sum{version="2",status="succeeded"}') ?? 0,
    );
  });

  // On PGlite every query, the request's key check included, waits for the running job's
  // transaction, so a request cannot arrive while a run holds the job.
  it.runIf(TEST_DB === 'postgres')('counts a request refused because a run is in progress as skipped', async () => {
    const before = samples((await scrape()).body);
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let locked: () => void = () => {};
    const isLocked = new Promise<void>((r) => {
      locked = r;
    });
    const holder = runAnalyticsJob(
      { db: t.database.jobsDb, log: silentLog, now: () => new Date(), instanceId: 'holder' },
      {
        version: 2,
        trigger: 'manual',
        hooks: {
          onLocked: async () => {
            locked();
            await gate;
          },
        },
      },
    );
    await isLocked;
    try {
      const busy = await t.call(t.adminKey, { method: 'POST', url: '/api/v1/analytics/run', payload: { version: 2 } });
      expectProblem(busy, {
        status: 409,
        code: 'run_in_progress',
        detail: 'Another analytics run is in progress; try again when it has finished',
        instance: '/api/v1/analytics/run',
      });
    } finally {
      release();
      await holder;
    }
    const after = samples((await scrape()).body);
    expect(runs(after, 'skipped')).toBe(runs(before, 'skipped') + 1);
    expect(timed(after, 'skipped')).toBe(timed(before, 'skipped') + 1);
    // The holder ran without the app's metrics: nothing else moved.
    expect(runs(after, 'succeeded')).toBe(runs(before, 'succeeded'));
    expect(runs(after, 'failed')).toBe(0);
  });
});

describe('metrics objects', () => {
  it('are per app, record analytics runs and loader rejections, and leave the global registry empty', async () => {
    const database = await createTestDatabase();
    const metrics = createAppMetrics({ database, version: APP_VERSION });
    const app = await buildApp({ config: testConfig({ METRICS_PUBLIC: 'true' }), database, metrics });
    try {
      metrics.observeAnalyticsRun({ version: 2, status: 'succeeded', durationSeconds: 0.2 });
      metrics.observeAnalyticsRun({ version: 2, status: 'failed', durationSeconds: 1.5 });
      metrics.loaderRejectedRows.inc(7);
      metrics.readingsIngested.inc(40);
      const s = samples((await app.inject({ method: 'GET', url: '/metrics' })).body);
      expect(s.get('patientpulse_analytics_runs_total{version="2",status="succeeded"}')).toBe(1);
      expect(s.get('patientpulse_analytics_runs_total{version="2",status="failed"}')).toBe(1);
      expect(s.get('patientpulse_analytics_run_duration_seconds_sum{version="2",status="failed"}')).toBe(1.5);
      expect(s.get('patientpulse_analytics_run_duration_seconds_bucket{le="0.5",version="2",status="succeeded"}')).toBe(
        1,
      );
      expect(s.get('patientpulse_loader_rejected_rows_total')).toBe(7);
      expect(s.get('patientpulse_readings_ingested_total')).toBe(40);
      // The shared test app counts separately.
      const other = samples((await scrape()).body);
      expect(other.get('patientpulse_loader_rejected_rows_total')).toBe(0);
      expect(globalRegistry.getMetricsAsArray()).toEqual([]);

      // A scrape while the database is down still answers, with the buffer depth unknown.
      await database.close();
      const down = await app.inject({ method: 'GET', url: '/metrics' });
      expect(down.statusCode).toBe(200);
      expect(samples(down.body).get('patientpulse_analytics_buffer_rows')).toBeNaN();
    } finally {
      await app.close();
    }
  });
});
