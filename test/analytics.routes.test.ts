import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../src/db/database.js';
import { runAnalyticsJob } from '../src/modules/analytics/analytics.jobs.js';
import { RunInProgressError, triggerRun } from '../src/modules/analytics/analytics.runs.service.js';
import { silentLog } from './helpers/analytics.js';
import { createTestApp, type TestApp, uniqueEmail } from './helpers/app.js';
import { TEST_DB } from './helpers/database.js';

const NOW = new Date('2025-10-01T12:00:00.000Z');
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ now: () => NOW });
});
afterAll(async () => {
  await t?.close();
});

async function createPatient(): Promise<number> {
  const res = await t.call(t.adminKey, {
    method: 'POST',
    url: '/api/v1/patients',
    payload: { name: 'Ana Souza', dob: '1980-05-12', gender: 'female', email: uniqueEmail() },
  });
  expect(res.statusCode).toBe(201);
  return res.json().id;
}

async function postReading(patientId: number, type: string, timestamp: string, value: number, unit?: string) {
  const res = await t.call(t.adminKey, {
    method: 'POST',
    url: '/api/v1/biometrics',
    payload: { patient_id: patientId, type, timestamp, value, ...(unit ? { unit } : {}) },
  });
  expect(res.statusCode).toBe(200);
  return res.json() as { id: number };
}

async function runNow(version?: 1 | 2) {
  const res = await t.call(t.adminKey, {
    method: 'POST',
    url: '/api/v1/analytics/run',
    payload: version === undefined ? {} : { version },
  });
  expect(res.statusCode).toBe(200);
  return res.json();
}

const item = (patientId: number, metric: string, value: number, start: string, count: number) => ({
  patient_id: patientId,
  metric_name: metric,
  value,
  computed_at: NOW.toISOString(),
  bucket_start: start,
  bucket_end: new Date(new Date(start).getTime() + 3_600_000).toISOString(),
  count,
});

describe('GET /api/v1/analytics', () => {
  let a: number;
  let b: number;
  let all: ReturnType<typeof item>[];
  beforeAll(async () => {
    a = await createPatient();
    b = await createPatient();
    await postReading(a, 'glucose', '2025-09-30T10:05:00Z', 100);
    await postReading(a, 'glucose', '2025-09-30T10:50:00Z', 101);
    await postReading(a, 'glucose', '2025-09-30T12:59:59+02:00', 101); // 10:59:59 UTC
    await postReading(a, 'weight', '2025-09-30T11:30:00Z', 70.25);
    await postReading(b, 'systolic', '2025-09-30T11:10:00Z', 120);
    await runNow(1);
    all = [
      item(a, 'weight_min', 70.25, '2025-09-30T11:00:00.000Z', 1),
      item(a, 'weight_max', 70.25, '2025-09-30T11:00:00.000Z', 1),
      item(a, 'weight_avg', 70.25, '2025-09-30T11:00:00.000Z', 1),
      item(a, 'glucose_min', 100, '2025-09-30T10:00:00.000Z', 3),
      item(a, 'glucose_max', 101, '2025-09-30T10:00:00.000Z', 3),
      item(a, 'glucose_avg', 302 / 3, '2025-09-30T10:00:00.000Z', 3),
    ];
  });

  const get = (query: string, key = t.adminKey) => t.call(key, { method: 'GET', url: `/api/v1/analytics?${query}` });

  it('lists min, max and avg per bucket, newest bucket first, unrounded, with the total in X-Total-Count', async () => {
    const res = await get(`patient_id=${a}`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-total-count']).toBe('6');
    expect(res.json()).toEqual(all);
    expect(res.json()[5].value).toBe(100.66666666666667);
  });

  it.each([
    ['metric=glucose_avg', [5]],
    ['type=weight', [0, 1, 2]],
    ['type=glucose&metric=glucose_max', [4]],
    ['from=2025-09-30T11:00:00Z', [0, 1, 2]],
    ['to=2025-09-30T11:00:00Z', [3, 4, 5]],
    ['from=2025-09-30T10:00:00Z&to=2025-09-30T10:00:00.001Z', [3, 4, 5]],
    ['from=2025-09-30T12:00:00Z', []],
    ['size=2&page=2', [2, 3]],
    ['size=4&page=2', [4, 5]],
    ['size=4&page=3', []],
  ])('filters and pages: %s', async (query, indexes) => {
    const res = await get(`patient_id=${a}&${query}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(indexes.map((i) => all[i]));
    const filtersOnly = query.replace(/&?(size|page)=\d+/g, '');
    const total = filtersOnly === query ? indexes.length : 6;
    expect(res.headers['x-total-count']).toBe(String(total));
  });

  it('without a patient filter covers every patient the key may see; a scoped key sees only its patients', async () => {
    const scoped = await t.key('clinician', [b]);
    const res = await get('', scoped);
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-total-count']).toBe('3');
    expect(res.json()).toEqual([
      item(b, 'systolic_min', 120, '2025-09-30T11:00:00.000Z', 1),
      item(b, 'systolic_max', 120, '2025-09-30T11:00:00.000Z', 1),
      item(b, 'systolic_avg', 120, '2025-09-30T11:00:00.000Z', 1),
    ]);
    const other = await get(`patient_id=${a}`, scoped);
    expect(other.statusCode).toBe(404);
    expect(other.json()).toMatchObject({ status: 404, code: 'not_found' });
  });

  it('is readable by readers and patients, not by devices or anonymous callers', async () => {
    expect((await get(`patient_id=${a}`, await t.key('reader'))).statusCode).toBe(200);
    expect((await get(`patient_id=${a}`, await t.key('patient', [a]))).statusCode).toBe(200);
    expect((await get(`patient_id=${a}`, await t.key('device'))).statusCode).toBe(403);
    expect((await t.call(null, { method: 'GET', url: '/api/v1/analytics' })).statusCode).toBe(401);
  });

  it.each([
    ['metric=glucose_median', 'query.metric'],
    ['type=weight&metric=glucose_avg', 'query.type'],
    ['size=1001', 'query.size'],
    ['from=yesterday', 'query.from'],
  ])('rejects %s with 422 naming %s', async (query, field) => {
    const res = await get(query);
    expect(res.statusCode).toBe(422);
    expect(res.json().errors.map((e: { field: string }) => e.field)).toContain(field);
  });
});

describe('POST /api/v1/analytics/run', () => {
  it('runs the job and answers with the run record; the store reflects it', async () => {
    const p = await createPatient();
    await postReading(p, 'diastolic', '2025-09-29T08:00:00Z', 80);
    await postReading(p, 'diastolic', '2025-09-29T09:00:00Z', 85);
    const res = await t.call(t.adminKey, { method: 'POST', url: '/api/v1/analytics/run', payload: { version: 2 } });
    expect(res.statusCode).toBe(200);
    const run = res.json();
    expect(run).toEqual({
      id: expect.any(Number),
      version: 2,
      trigger: 'manual',
      instance: expect.any(String),
      status: 'succeeded',
      started_at: NOW.toISOString(),
      finished_at: NOW.toISOString(),
      buckets_touched: 2,
      rows_consumed: 2,
      error: null,
    });
    const rows = await queryRows(t.database.db, sql`select count(*)::int as n from analytics where patient_id = ${p}`);
    expect(rows[0]?.n).toBe(2);
    const [recorded] = await queryRows(t.database.db, sql`select * from analytics_runs where id = ${run.id}`);
    expect(recorded).toMatchObject({ version: 2, status: 'succeeded', buckets_touched: 2, rows_consumed: 2 });
  });

  it('defaults to ANALYTICS_VERSION and accepts an empty body', async () => {
    const res = await t.call(t.adminKey, { method: 'POST', url: '/api/v1/analytics/run' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ version: t.config.analyticsVersion, status: 'succeeded' });
  });

  it.each([[{ version: 3 }], [{ version: '2' }], [{ extra: true }]])('rejects %j with 422', async (payload) => {
    const res = await t.call(t.adminKey, { method: 'POST', url: '/api/v1/analytics/run', payload });
    expect(res.statusCode).toBe(422);
    expect(res.json().errors[0].field).toMatch(/^body/);
  });

  // On PGlite every query, the request's key check included, waits for the running job's
  // transaction, so the request cannot arrive "during" the run; the service is checked below.
  it.runIf(TEST_DB === 'postgres')(
    'answers 409 while another run is in progress, and records nothing for the refused one',
    async () => {
      const runsBefore = (await queryRows(t.database.db, sql`select count(*)::int as n from analytics_runs`))[0]?.n;
      let status = 0;
      let body: Record<string, unknown> = {};
      const outcome = await runAnalyticsJob(
        { db: t.database.db, log: silentLog, now: () => NOW, instanceId: 'scheduler' },
        {
          version: 2,
          trigger: 'scheduled',
          hooks: {
            onLocked: async () => {
              const res = await t.call(t.adminKey, { method: 'POST', url: '/api/v1/analytics/run', payload: {} });
              status = res.statusCode;
              body = res.json();
            },
          },
        },
      );
      expect(outcome.ran).toBe(true);
      expect(status).toBe(409);
      expect(body).toMatchObject({ status: 409, code: 'run_in_progress' });
      const runsAfter = (await queryRows(t.database.db, sql`select count(*)::int as n from analytics_runs`))[0]?.n;
      expect(runsAfter).toBe(Number(runsBefore) + 1);
    },
  );

  it('the trigger refuses with run_in_progress while a run is in flight in this process', async () => {
    const deps = { db: t.database.db, log: silentLog, now: () => NOW, instanceId: 'scheduler' };
    let refused: unknown;
    await runAnalyticsJob(deps, {
      version: 2,
      trigger: 'scheduled',
      hooks: {
        onLocked: async () => {
          refused = await triggerRun(deps, 2).catch((err: unknown) => err);
        },
      },
    });
    expect(refused).toBeInstanceOf(RunInProgressError);
    expect(refused).toMatchObject({ status: 409, code: 'run_in_progress' });
  });

  it('is for admins only', async () => {
    const p = await createPatient();
    for (const role of ['clinician', 'reader', 'device', 'patient', 'metrics'] as const) {
      const res = await t.call(await t.key(role, role === 'patient' ? [p] : null), {
        method: 'POST',
        url: '/api/v1/analytics/run',
        payload: {},
      });
      expect(res.statusCode, role).toBe(403);
    }
    expect((await t.call(null, { method: 'POST', url: '/api/v1/analytics/run', payload: {} })).statusCode).toBe(401);
  });
});

describe('GET /api/v1/analytics/runs', () => {
  it('pages the run records, newest first', async () => {
    const first = await runNow(1);
    const second = await runNow(2);
    const res = await t.call(t.adminKey, { method: 'GET', url: '/api/v1/analytics/runs?size=2' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    const [n] = await queryRows(t.database.db, sql`select count(*)::int as n from analytics_runs`);
    expect(body).toEqual({ page: 1, size: 2, total: n?.n, items: [second, first] });
    const page2 = await t.call(t.adminKey, { method: 'GET', url: '/api/v1/analytics/runs?size=1&page=2' });
    expect(page2.json().items).toEqual([first]);
  });

  it('is for admins only and validates paging', async () => {
    const res = await t.call(await t.key('clinician'), { method: 'GET', url: '/api/v1/analytics/runs' });
    expect(res.statusCode).toBe(403);
    const bad = await t.call(t.adminKey, { method: 'GET', url: '/api/v1/analytics/runs?size=101' });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().errors[0].field).toBe('query.size');
  });
});
