/**
 * The database server's time zone must not matter: a server configured for
 * Asia/Kathmandu (UTC+05:45, not a whole hour) must store, bucket, filter and return the
 * same instants as one running in UTC.
 */
import { eq, sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase, queryRows } from '../src/db/database.js';
import { analytics, biometricsHourly, patients } from '../src/db/schema.js';
import { createTestApp, type TestApp, uniqueEmail } from './helpers/app.js';
import { createPgTestDatabase, createTestDatabase, TEST_DB } from './helpers/database.js';

const ZONE = 'Asia/Kathmandu';

/** A fresh database whose sessions all run in {@link ZONE}. */
async function databaseInZone(): Promise<Database> {
  if (TEST_DB === 'pglite') {
    const database = await createTestDatabase();
    await database.db.execute(sql.raw(`set timezone to '${ZONE}'`)); // one session: it sticks
    return database;
  }
  const created = await createPgTestDatabase();
  const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`alter database "${new URL(created.url).pathname.slice(1)}" set timezone to '${ZONE}'`);
  await admin.end();
  const database = await openDatabase({ databaseUrl: created.url, poolMax: 4 });
  const close = database.close.bind(database);
  database.close = async () => {
    await close();
    await created.drop();
  };
  return database;
}

let t: TestApp;
let pid: number;
beforeAll(async () => {
  t = await createTestApp({ database: await databaseInZone() });
  const res = await t.call(t.adminKey, {
    method: 'POST',
    url: '/api/v1/patients',
    payload: { name: 'Zone Tester', dob: '1980-05-12', gender: 'female', email: uniqueEmail('tz') },
  });
  pid = res.json().id;
});
afterAll(async () => {
  await t?.app.close();
  await t?.database.close();
});

describe(`with the database sessions in ${ZONE}`, () => {
  it('really runs in that zone', async () => {
    const [row] = await queryRows<{ tz: string }>(t.database.db, sql`select current_setting('TimeZone') as tz`);
    expect(row?.tz).toBe(ZONE);
  });

  it('returns dates of birth unshifted', async () => {
    const res = await t.call(t.adminKey, { method: 'GET', url: `/api/v1/patients/${pid}` });
    expect(res.json().dob).toBe('1980-05-12');
    const [row] = await t.database.db.select({ dob: patients.dob }).from(patients).where(eq(patients.id, pid));
    expect(row?.dob).toBe('1980-05-12');
  });

  it('stores readings as instants, answers in UTC and buckets by the UTC hour', async () => {
    const res = await t.call(t.adminKey, {
      method: 'POST',
      url: '/api/v1/biometrics',
      payload: { patient_id: pid, timestamp: '2025-05-24T08:30:00', type: 'glucose', value: 100 },
    });
    expect(res.json()).toEqual({
      id: expect.any(Number),
      patient_id: pid,
      timestamp: '2025-05-24T08:30:00.000Z',
      type: 'glucose',
      value: 100,
      unit: 'mg/dL',
    });
    // A two-argument date_trunc would give 08:15Z here (14:00 in Kathmandu).
    const buffer = await t.database.db
      .select({ bucket: biometricsHourly.bucketStart })
      .from(biometricsHourly)
      .where(eq(biometricsHourly.patientId, pid));
    expect(buffer.map((b) => b.bucket.toISOString())).toEqual(['2025-05-24T08:00:00.000Z']);

    const history = await t.call(t.adminKey, {
      method: 'GET',
      url: `/api/v1/biometrics?patient_id=${pid}&from=2025-05-24T08:30:00Z&to=2025-05-24T08:30:00.001Z`,
    });
    expect(history.json().items.map((i: { timestamp: string }) => i.timestamp)).toEqual(['2025-05-24T08:30:00.000Z']);

    const del = await t.call(t.adminKey, { method: 'DELETE', url: `/api/v1/biometrics/${res.json().id}` });
    expect(del.statusCode).toBe(200);
    const after = await t.database.db
      .select({ bucket: biometricsHourly.bucketStart })
      .from(biometricsHourly)
      .where(eq(biometricsHourly.patientId, pid));
    expect(after.map((b) => b.bucket.toISOString())).toEqual(['2025-05-24T08:00:00.000Z', '2025-05-24T08:00:00.000Z']);
  });

  it('reads analytics buckets in UTC', async () => {
    await t.database.db.insert(analytics).values({
      patientId: pid,
      type: 'weight',
      bucketStart: new Date('2025-05-24T08:00:00Z'),
      min: 70,
      max: 72,
      sum: 142,
      count: 2,
      computedAt: new Date('2025-05-24T09:00:01Z'),
    });
    const res = await t.call(t.adminKey, {
      method: 'GET',
      url: `/api/v1/analytics?patient_id=${pid}&metric=weight_avg&from=2025-05-24T08:00:00Z&to=2025-05-24T09:00:00Z`,
    });
    expect(res.json()).toEqual([
      {
        patient_id: pid,
        metric_name: 'weight_avg',
        value: 71,
        computed_at: '2025-05-24T09:00:01.000Z',
        bucket_start: '2025-05-24T08:00:00.000Z',
        bucket_end: '2025-05-24T09:00:00.000Z',
        count: 2,
      },
    ]);
  });
});
