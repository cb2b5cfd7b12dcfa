import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analytics } from '../src/db/schema.js';
import { createTestApp, type TestApp, uniqueEmail } from './helpers/app.js';
import { expectProblem, expectValidation } from './helpers/problem.js';

let t: TestApp;
let p1: number;
let p2: number;

const COMPUTED = '2025-05-24T12:00:05.123Z';
const TS_MESSAGE = 'must be an ISO 8601 date-time (for example 2025-05-24T08:00:00Z); without an offset it means UTC';
const METRICS = [
  'glucose_min',
  'glucose_max',
  'glucose_avg',
  'systolic_min',
  'systolic_max',
  'systolic_avg',
  'diastolic_min',
  'diastolic_max',
  'diastolic_avg',
  'weight_min',
  'weight_max',
  'weight_avg',
];

async function newPatient(): Promise<number> {
  const res = await t.call(t.adminKey, {
    method: 'POST',
    url: '/api/v1/patients',
    payload: { name: 'Analytics Tester', dob: '1965-03-04', gender: 'female', email: uniqueEmail('an') },
  });
  expect(res.statusCode).toBe(201);
  return res.json().id;
}

function list(query = '', key = t.adminKey) {
  return t.call(key, { method: 'GET', url: `/api/v1/analytics${query ? `?${query}` : ''}` });
}

/** The three items one analytics row expands to, in the API's order (min, max, avg). */
function itemsOf(
  patientId: number,
  type: string,
  bucket: string,
  row: { min: number; max: number; sum: number; count: number },
) {
  const bucketEnd = new Date(new Date(bucket).getTime() + 3_600_000).toISOString();
  const base = {
    patient_id: patientId,
    computed_at: COMPUTED,
    bucket_start: bucket,
    bucket_end: bucketEnd,
    count: row.count,
  };
  return [
    { ...base, metric_name: `${type}_min`, value: row.min },
    { ...base, metric_name: `${type}_max`, value: row.max },
    { ...base, metric_name: `${type}_avg`, value: row.sum / row.count },
  ];
}

const G1 = { min: 80, max: 120.5, sum: 300.5, count: 3 }; // avg 100.1666...
const G2 = { min: 90, max: 90, sum: 90, count: 1 };
const W1 = { min: 70.1, max: 70.3, sum: 140.4, count: 2 };
const S2 = { min: 118, max: 131, sum: 370, count: 3 }; // avg 123.33333333333333, a repeating fraction

beforeAll(async () => {
  t = await createTestApp();
  p1 = await newPatient();
  p2 = await newPatient();
  const computedAt = new Date(COMPUTED);
  await t.database.db.insert(analytics).values([
    { patientId: p1, type: 'glucose', bucketStart: new Date('2025-05-24T08:00:00Z'), ...G1, computedAt },
    { patientId: p1, type: 'glucose', bucketStart: new Date('2025-05-24T10:00:00Z'), ...G2, computedAt },
    { patientId: p1, type: 'weight', bucketStart: new Date('2025-05-24T10:00:00Z'), ...W1, computedAt },
    { patientId: p2, type: 'systolic', bucketStart: new Date('2025-05-24T10:00:00Z'), ...S2, computedAt },
  ]);
});
afterAll(async () => {
  await t?.close();
});

describe('GET /api/v1/analytics', () => {
  it('lists every metric, newest bucket first, then by patient, type and min/max/avg', async () => {
    const res = await list();
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-total-count']).toBe('12');
    expect(res.json()).toEqual([
      ...itemsOf(p1, 'glucose', '2025-05-24T10:00:00.000Z', G2),
      ...itemsOf(p1, 'weight', '2025-05-24T10:00:00.000Z', W1),
      ...itemsOf(p2, 'systolic', '2025-05-24T10:00:00.000Z', S2),
      ...itemsOf(p1, 'glucose', '2025-05-24T08:00:00.000Z', G1),
    ]);
  });

  it('keeps the average at full double precision', async () => {
    const res = await list(`patient_id=${p2}&metric=systolic_avg`);
    expect(res.json()).toEqual([itemsOf(p2, 'systolic', '2025-05-24T10:00:00.000Z', S2)[2]]);
    expect(res.json()[0].value).toBe(123.33333333333333);
  });

  it('filters by patient', async () => {
    const res = await list(`patient_id=${p1}`);
    expect(res.headers['x-total-count']).toBe('9');
    expect(res.json()).toEqual([
      ...itemsOf(p1, 'glucose', '2025-05-24T10:00:00.000Z', G2),
      ...itemsOf(p1, 'weight', '2025-05-24T10:00:00.000Z', W1),
      ...itemsOf(p1, 'glucose', '2025-05-24T08:00:00.000Z', G1),
    ]);
  });

  it('filters by metric name', async () => {
    const res = await list(`patient_id=${p1}&metric=glucose_max`);
    expect(res.headers['x-total-count']).toBe('2');
    expect(res.json()).toEqual([
      itemsOf(p1, 'glucose', '2025-05-24T10:00:00.000Z', G2)[1],
      itemsOf(p1, 'glucose', '2025-05-24T08:00:00.000Z', G1)[1],
    ]);
  });

  it('filters by type', async () => {
    const res = await list('type=weight');
    expect(res.headers['x-total-count']).toBe('3');
    expect(res.json()).toEqual(itemsOf(p1, 'weight', '2025-05-24T10:00:00.000Z', W1));
  });

  it('filters buckets by start time: from inclusive, to exclusive', async () => {
    const upTo10 = await list('to=2025-05-24T10:00:00Z');
    expect(upTo10.json()).toEqual(itemsOf(p1, 'glucose', '2025-05-24T08:00:00.000Z', G1));
    const from10 = await list('from=2025-05-24T10:00:00Z&type=glucose');
    expect(from10.json()).toEqual(itemsOf(p1, 'glucose', '2025-05-24T10:00:00.000Z', G2));
    const offset = await list(`from=${encodeURIComponent('2025-05-24T12:00:00+02:00')}&type=glucose`);
    expect(offset.json()).toEqual(from10.json());
    const none = await list('from=2025-05-24T10:00:01Z');
    expect(none.json()).toEqual([]);
    expect(none.headers['x-total-count']).toBe('0');
  });

  it('pages through items with a stable order', async () => {
    const all = (await list()).json();
    const pages = [];
    for (let page = 1; page <= 3; page++) {
      const res = await list(`size=5&page=${page}`);
      expect(res.headers['x-total-count']).toBe('12');
      pages.push(...res.json());
    }
    expect(pages).toEqual(all);
    expect((await list('size=5&page=4')).json()).toEqual([]);
  });

  it('answers an empty list for a patient without analytics', async () => {
    const p3 = await newPatient();
    const res = await list(`patient_id=${p3}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual([]);
    expect(res.headers['x-total-count']).toBe('0');
  });

  it('answers 404 for an unknown or erased patient, the same problem a scoped key gets for another patient', async () => {
    const erased = await newPatient();
    await t.database.db.insert(analytics).values({
      patientId: erased,
      type: 'glucose',
      bucketStart: new Date('2025-05-24T08:00:00Z'),
      ...G2,
      computedAt: new Date(COMPUTED),
    });
    const del = await t.call(t.adminKey, { method: 'DELETE', url: `/api/v1/patients/${erased}` });
    expect(del.statusCode).toBe(200);
    expect(await t.database.db.select().from(analytics).where(eq(analytics.patientId, erased))).toEqual([]);
    const notFound = { status: 404, code: 'not_found', detail: 'Patient not found', instance: '/api/v1/analytics' };
    for (const query of [
      'patient_id=2147483647',
      `patient_id=${erased}`,
      `patient_id=${erased}&size=5&page=2`,
      `patient_id=${erased}&metric=glucose_avg`,
    ]) {
      const res = await list(query);
      expectProblem(res, notFound);
      expect(res.headers['x-total-count']).toBeUndefined();
    }
    const scoped = await t.key('reader', [p2]);
    expectProblem(await list(`patient_id=${p1}`, scoped), notFound);
    expectProblem(await list(`patient_id=${erased}`, scoped), notFound);
  });

  it('returns every matching item without page and size, and pages of 100 when only page is given', async () => {
    const p = await newPatient();
    const computedAt = new Date(COMPUTED);
    const rows = Array.from({ length: 45 }, (_, i) => ({
      patientId: p,
      type: 'glucose',
      bucketStart: new Date(Date.UTC(2025, 0, 1, i)),
      min: i,
      max: i + 2,
      sum: 2 * i + 2,
      count: 2,
      computedAt,
    }));
    await t.database.db.insert(analytics).values(rows);
    const newestFirst = rows
      .slice()
      .reverse()
      .flatMap((r) => itemsOf(p, 'glucose', r.bucketStart.toISOString(), r));
    expect(newestFirst).toHaveLength(135);

    const all = await list(`patient_id=${p}`);
    expect({ status: all.statusCode, total: all.headers['x-total-count'], body: all.json() }).toEqual({
      status: 200,
      total: '135',
      body: newestFirst,
    });
    const firstPage = await list(`patient_id=${p}&page=1`);
    expect({ total: firstPage.headers['x-total-count'], body: firstPage.json() }).toEqual({
      total: '135',
      body: newestFirst.slice(0, 100),
    });
    const secondPage = await list(`patient_id=${p}&page=2`);
    expect(secondPage.json()).toEqual(newestFirst.slice(100));
    const sized = await list(`patient_id=${p}&size=7`);
    expect({ total: sized.headers['x-total-count'], body: sized.json() }).toEqual({
      total: '135',
      body: newestFirst.slice(0, 7),
    });
    const oneMetric = await list(`patient_id=${p}&metric=glucose_max`);
    expect({ total: oneMetric.headers['x-total-count'], body: oneMetric.json() }).toEqual({
      total: '45',
      body: newestFirst.filter((i) => i.metric_name === 'glucose_max'),
    });
  });

  it('reads an empty metric or type as no filter', async () => {
    const unfiltered = await list(`patient_id=${p1}`);
    for (const query of ['metric=', 'type=', 'metric=&type=']) {
      const res = await list(`patient_id=${p1}&${query}`);
      expect({ status: res.statusCode, total: res.headers['x-total-count'], body: res.json() }, query).toEqual({
        status: 200,
        total: '9',
        body: unfiltered.json(),
      });
    }
    const typeOnly = await list(`patient_id=${p1}&metric=&type=weight`);
    expect(typeOnly.json()).toEqual(itemsOf(p1, 'weight', '2025-05-24T10:00:00.000Z', W1));
    const metricOnly = await list(`patient_id=${p1}&metric=glucose_min&type=`);
    expect(metricOnly.json()).toEqual([
      itemsOf(p1, 'glucose', '2025-05-24T10:00:00.000Z', G2)[0],
      itemsOf(p1, 'glucose', '2025-05-24T08:00:00.000Z', G1)[0],
    ]);
    expectValidation(await list('metric=%20'), '/api/v1/analytics', [
      { field: 'query.metric', message: `must be one of: ${METRICS.join(', ')}` },
    ]);
  });

  it('refuses an unpaged list above 50,000 items, and serves it in pages or narrowed', async () => {
    const p = await newPatient();
    // 16,667 glucose buckets: 50,001 items with all three statistics, 16,667 with one.
    await t.database.db.execute(sql`
      insert into analytics (patient_id, type, bucket_start, min, max, sum, count, computed_at)
      select ${p}::int, 'glucose', timestamptz '2020-01-01T00:00:00Z' + make_interval(hours => i), 90, 110, 200, 2,
        ${COMPUTED}::timestamptz
      from generate_series(0, 16666) as i`);
    expectValidation(await list(`patient_id=${p}`), '/api/v1/analytics', [
      {
        field: 'query.size',
        message:
          'more than 50000 items match: ask for them in pages with page and size, or narrow the list with metric, type, from or to',
      },
    ]);
    const narrowed = await list(`patient_id=${p}&metric=glucose_max`);
    expect(narrowed.statusCode).toBe(200);
    expect(narrowed.headers['x-total-count']).toBe('16667');
    const items = narrowed.json() as { metric_name: string; value: number; bucket_start: string }[];
    expect(items).toHaveLength(16667);
    expect(items.every((i) => i.metric_name === 'glucose_max' && i.value === 110)).toBe(true);
    expect(items[0]?.bucket_start).toBe('2021-11-25T10:00:00.000Z');
    const page = await list(`patient_id=${p}&page=2&size=3`);
    expect({ status: page.statusCode, total: page.headers['x-total-count'], body: page.json() }).toEqual({
      status: 200,
      total: '50001',
      body: itemsOf(p, 'glucose', '2021-11-25T09:00:00.000Z', { min: 90, max: 110, sum: 200, count: 2 }),
    });
    const stored = await t.database.db.select().from(analytics).where(eq(analytics.patientId, p));
    expect(stored).toHaveLength(16667);
  });

  it('rejects an unknown metric, listing the valid ones', async () => {
    expectValidation(await list('metric=glucose_median'), '/api/v1/analytics', [
      { field: 'query.metric', message: `must be one of: ${METRICS.join(', ')}` },
    ]);
  });

  it.each([
    ['type=pulse', 'query.type', 'must be one of: glucose, systolic, diastolic, weight'],
    ['patient_id=0', 'query.patient_id', 'must be >= 1'],
    ['patient_id=x', 'query.patient_id', 'must be integer'],
    ['size=0', 'query.size', 'must be >= 1'],
    ['size=1001', 'query.size', 'must be <= 1000'],
    ['page=0', 'query.page', 'must be >= 1'],
    ['page=', 'query.page', 'must be integer'],
    ['size=', 'query.size', 'must be integer'],
    ['patient_id=', 'query.patient_id', 'must be integer'],
    ['from=2025-02-30T00:00:00Z', 'query.from', TS_MESSAGE],
  ])('rejects %s with 422', async (q, field, message) => {
    expectValidation(await list(q), '/api/v1/analytics', [{ field, message }]);
  });

  it('rejects a type that contradicts the metric', async () => {
    expectValidation(await list('metric=glucose_avg&type=weight'), '/api/v1/analytics', [
      { field: 'query.type', message: 'does not match the type of metric' },
    ]);
  });

  it('limits a scoped key to its patients', async () => {
    const scoped = await t.key('clinician', [p2]);
    const res = await list('', scoped);
    expect(res.headers['x-total-count']).toBe('3');
    expect(res.json()).toEqual(itemsOf(p2, 'systolic', '2025-05-24T10:00:00.000Z', S2));
    expectProblem(await list(`patient_id=${p1}`, scoped), {
      status: 404,
      code: 'not_found',
      detail: 'Patient not found',
      instance: '/api/v1/analytics',
    });
  });

  it('requires a key', async () => {
    expectProblem(await t.call(null, { method: 'GET', url: '/api/v1/analytics?metric=nonsense' }), {
      status: 401,
      code: 'unauthorized',
      detail: 'A valid API key is required',
      instance: '/api/v1/analytics',
    });
  });
});
