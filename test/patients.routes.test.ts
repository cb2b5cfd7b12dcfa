import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analytics, biometrics, biometricsHourly, patients } from '../src/db/schema.js';
import { createTestApp, type TestApp, uniqueEmail } from './helpers/app.js';
import { TEST_DB } from './helpers/database.js';
import { expectProblem, expectValidation } from './helpers/problem.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

async function createPatient(overrides: Record<string, unknown> = {}) {
  const res = await t.call(t.adminKey, {
    method: 'POST',
    url: '/api/v1/patients',
    payload: { name: 'Ana Souza', dob: '1980-05-12', gender: 'female', email: uniqueEmail(), ...overrides },
  });
  expect(res.statusCode).toBe(201);
  return res.json() as { id: number; email: string };
}

describe('POST /api/v1/patients', () => {
  it('creates a patient, normalising gender and email case', async () => {
    const email = uniqueEmail('Mixed.Case');
    const res = await t.call(t.adminKey, {
      method: 'POST',
      url: '/api/v1/patients',
      payload: { name: ' Bob Stone ', dob: '1975-11-03', gender: 'MALE', email, phone: '555-5678' },
    });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toEqual({
      id: expect.any(Number),
      name: 'Bob Stone',
      dob: '1975-11-03',
      gender: 'male',
      address: null,
      email: email.toLowerCase(),
      phone: '555-5678',
    });
    const [row] = await t.database.db.select().from(patients).where(eq(patients.id, body.id));
    expect(row?.email).toBe(email.toLowerCase());
    expect(row?.gender).toBe('male');
  });

  it('answers 409 on a duplicate email, whatever its case, and stores nothing', async () => {
    const p = await createPatient();
    const res = await t.call(t.adminKey, {
      method: 'POST',
      url: '/api/v1/patients',
      payload: { name: 'Other', dob: '1990-01-01', gender: 'other', email: p.email.toUpperCase() },
    });
    expect(res.statusCode).toBe(409);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.json()).toMatchObject({ status: 409, code: 'conflict', request_id: expect.any(String) });
    const rows = await t.database.db.select().from(patients).where(eq(patients.email, p.email));
    expect(rows).toHaveLength(1);
    expect(rows[0]?.name).toBe('Ana Souza');
  });

  it.each([
    [{ dob: '1980-02-30' }, 'body.dob'],
    [{ dob: '2999-01-01' }, 'body.dob'],
    [{ gender: 'unknown' }, 'body.gender'],
    [{ email: 'not-an-email' }, 'body.email'],
    [{ name: '' }, 'body.name'],
    [{ extra: 1 }, 'body.extra'],
  ])('rejects %j with 422 naming %s', async (patch, field) => {
    const res = await t.call(t.adminKey, {
      method: 'POST',
      url: '/api/v1/patients',
      payload: { name: 'X', dob: '1980-01-01', gender: 'female', email: uniqueEmail(), ...patch },
    });
    expect(res.statusCode).toBe(422);
    expect(res.json().errors.map((e: { field: string }) => e.field)).toContain(field);
  });

  it('answers 400 on malformed JSON', async () => {
    const res = await t.call(t.adminKey, {
      method: 'POST',
      url: '/api/v1/patients',
      headers: { 'content-type': 'application/json' },
      payload: '{"name": ',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ status: 400, code: 'malformed_body' });
  });
});

describe('GET /api/v1/patients', () => {
  it('pages in id order with a total', async () => {
    await createPatient();
    await createPatient();
    const res = await t.call(t.adminKey, { method: 'GET', url: '/api/v1/patients?page=1&size=2' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.page).toBe(1);
    expect(body.size).toBe(2);
    expect(body.items).toHaveLength(2);
    expect(body.total).toBeGreaterThanOrEqual(2);
    expect(body.items[0].id).toBeLessThan(body.items[1].id);
  });

  it('searches by name or email, case-insensitively, treating % literally', async () => {
    const p = await createPatient({ name: 'Zebulon Quartz' });
    const byName = await t.call(t.adminKey, { method: 'GET', url: '/api/v1/patients?search=zebulon%20q' });
    expect(byName.json().items.map((i: { id: number }) => i.id)).toContain(p.id);
    const literal = await t.call(t.adminKey, { method: 'GET', url: '/api/v1/patients?search=%25' });
    expect(literal.statusCode).toBe(200);
    expect(literal.json().items).toEqual([]);
  });

  it.each(['size=0', 'size=101', 'page=0', 'page=abc'])('rejects %s with 422', async (q) => {
    const res = await t.call(t.adminKey, { method: 'GET', url: `/api/v1/patients?${q}` });
    expect(res.statusCode).toBe(422);
    expect(res.json().errors[0].field).toMatch(/^query\./);
  });

  it('requires a key', async () => {
    const res = await t.call(null, { method: 'GET', url: '/api/v1/patients' });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toContain('Bearer');
  });
});

describe('GET/PATCH/DELETE /api/v1/patients/:id', () => {
  it('gets, updates and erases a patient with its readings', async () => {
    const p = await createPatient();
    const got = await t.call(t.adminKey, { method: 'GET', url: `/api/v1/patients/${p.id}` });
    expect(got.statusCode).toBe(200);
    expect(got.json().id).toBe(p.id);

    const patched = await t.call(t.adminKey, {
      method: 'PATCH',
      url: `/api/v1/patients/${p.id}`,
      payload: { address: '1 Main St', gender: 'Other' },
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ id: p.id, address: '1 Main St', gender: 'other' });

    const reading = await t.call(t.adminKey, {
      method: 'POST',
      url: '/api/v1/biometrics',
      payload: { patient_id: p.id, timestamp: '2025-05-24T08:00:00Z', type: 'weight', value: 70 },
    });
    expect(reading.statusCode).toBe(200);

    const del = await t.call(t.adminKey, { method: 'DELETE', url: `/api/v1/patients/${p.id}` });
    expect(del.statusCode).toBe(200);
    expect(del.json()).toEqual({ ok: true, deleted_id: p.id, readings_deleted: 1 });
    expect(await t.database.db.select().from(biometrics).where(eq(biometrics.patientId, p.id))).toEqual([]);
    const again = await t.call(t.adminKey, { method: 'GET', url: `/api/v1/patients/${p.id}` });
    expect(again.statusCode).toBe(404);
  });

  it('answers 409 when PATCH takes another patient email', async () => {
    const a = await createPatient();
    const b = await createPatient();
    const res = await t.call(t.adminKey, {
      method: 'PATCH',
      url: `/api/v1/patients/${b.id}`,
      payload: { email: a.email },
    });
    expect(res.statusCode).toBe(409);
  });

  it('answers 404 for an unknown id and 422 for a non-numeric one', async () => {
    expect((await t.call(t.adminKey, { method: 'GET', url: '/api/v1/patients/99999999' })).statusCode).toBe(404);
    expect((await t.call(t.adminKey, { method: 'GET', url: '/api/v1/patients/abc' })).statusCode).toBe(422);
  });
});

describe('patients: edges', () => {
  it('rejects an empty PATCH and leaves the patient unchanged', async () => {
    const p = await createPatient();
    const res = await t.call(t.adminKey, { method: 'PATCH', url: `/api/v1/patients/${p.id}`, payload: {} });
    expectValidation(res, `/api/v1/patients/${p.id}`, [
      { field: 'body', message: 'must contain at least one property' },
    ]);
    const [row] = await t.database.db.select().from(patients).where(eq(patients.id, p.id));
    expect(row?.updatedAt).toEqual(row?.createdAt);
  });

  it('clears nullable fields with null and rejects null for required ones', async () => {
    const p = await createPatient({ address: '1 Main St', phone: '+1 555 0100' });
    const cleared = await t.call(t.adminKey, {
      method: 'PATCH',
      url: `/api/v1/patients/${p.id}`,
      payload: { address: null, phone: null },
    });
    expect(cleared.json()).toEqual({
      id: p.id,
      name: 'Ana Souza',
      dob: '1980-05-12',
      gender: 'female',
      address: null,
      email: p.email,
      phone: null,
    });
    const bad = await t.call(t.adminKey, { method: 'PATCH', url: `/api/v1/patients/${p.id}`, payload: { name: null } });
    expectValidation(bad, `/api/v1/patients/${p.id}`, [{ field: 'body.name', message: 'must be string' }]);
  });

  it('answers 404 for PATCH and DELETE of an unknown patient', async () => {
    const patch = await t.call(t.adminKey, {
      method: 'PATCH',
      url: '/api/v1/patients/2147483647',
      payload: { name: 'Nobody' },
    });
    expectProblem(patch, {
      status: 404,
      code: 'not_found',
      detail: 'Patient not found',
      instance: '/api/v1/patients/2147483647',
    });
    const del = await t.call(t.adminKey, { method: 'DELETE', url: '/api/v1/patients/2147483647' });
    expect(del.statusCode).toBe(404);
  });

  it.each([
    ['1899-12-31', 'must not be before 1900-01-01'],
    ['0001-01-01', 'must not be before 1900-01-01'],
    ['0000-01-01', 'must be a real calendar date in the form YYYY-MM-DD'],
  ])('rejects the date of birth %s with 422, not a database error', async (dob, message) => {
    const res = await t.call(t.adminKey, {
      method: 'POST',
      url: '/api/v1/patients',
      payload: { name: 'Old', dob, gender: 'male', email: uniqueEmail() },
    });
    expectValidation(res, '/api/v1/patients', [{ field: 'body.dob', message }]);
  });

  it.each([
    ['2147483648', 'must be <= 2147483647'],
    ['9007199254740993', 'must be <= 2147483647'],
    ['0x10', 'must be integer'],
    ['1e2', 'must be integer'],
    ['0', 'must be >= 1'],
  ])('rejects the path id %s with 422', async (id, message) => {
    const res = await t.call(t.adminKey, { method: 'GET', url: `/api/v1/patients/${id}` });
    expectValidation(res, `/api/v1/patients/${id}`, [{ field: 'path.id', message }]);
  });

  it('ignores a trailing slash', async () => {
    const p = await createPatient();
    const res = await t.call(t.adminKey, { method: 'GET', url: `/api/v1/patients/${p.id}/` });
    expect(res.statusCode).toBe(200);
    expect(res.json().id).toBe(p.id);
  });

  it('erases buffer rows and analytics with the patient, and nothing of other patients', async () => {
    const p = await createPatient();
    const other = await createPatient();
    for (const pid of [p.id, other.id]) {
      const r = await t.call(t.adminKey, {
        method: 'POST',
        url: '/api/v1/biometrics',
        payload: { patient_id: pid, timestamp: '2025-05-24T08:00:00Z', type: 'glucose', value: 90 },
      });
      expect(r.statusCode).toBe(200);
      await t.database.db.insert(analytics).values({
        patientId: pid,
        type: 'glucose',
        bucketStart: new Date('2025-05-24T08:00:00Z'),
        min: 90,
        max: 90,
        sum: 90,
        count: 1,
      });
    }
    const del = await t.call(t.adminKey, { method: 'DELETE', url: `/api/v1/patients/${p.id}` });
    expect(del.json()).toEqual({ ok: true, deleted_id: p.id, readings_deleted: 1 });
    const left = async (pid: number) => ({
      readings: (await t.database.db.select().from(biometrics).where(eq(biometrics.patientId, pid))).length,
      buffer: (await t.database.db.select().from(biometricsHourly).where(eq(biometricsHourly.patientId, pid))).length,
      analytics: (await t.database.db.select().from(analytics).where(eq(analytics.patientId, pid))).length,
    });
    expect(await left(p.id)).toEqual({ readings: 0, buffer: 0, analytics: 0 });
    expect(await left(other.id)).toEqual({ readings: 1, buffer: 1, analytics: 1 });
  });

  it('hides patients outside a scoped key behind the same 404', async () => {
    const mine = await createPatient();
    const theirs = await createPatient();
    const scoped = await t.key('clinician', [mine.id]);
    expect((await t.call(scoped, { method: 'GET', url: `/api/v1/patients/${mine.id}` })).statusCode).toBe(200);
    expectProblem(await t.call(scoped, { method: 'GET', url: `/api/v1/patients/${theirs.id}` }), {
      status: 404,
      code: 'not_found',
      detail: 'Patient not found',
      instance: `/api/v1/patients/${theirs.id}`,
    });
    const list = await t.call(scoped, { method: 'GET', url: '/api/v1/patients' });
    expect(list.json()).toEqual({ page: 1, size: 20, total: 1, items: [expect.objectContaining({ id: mine.id })] });
  });
});

describe('erasure under concurrent writes', () => {
  it.skipIf(TEST_DB !== 'postgres')('counts a reading whose insert commits while the erasure waits', async () => {
    const p = await createPatient();
    const pool = t.database.pool;
    if (!pool) throw new Error('PostgreSQL pool expected');
    const writer = await pool.connect();
    try {
      await writer.query('begin');
      await writer.query(
        `insert into biometrics (patient_id, type, value, unit, timestamp) values ($1, 'weight', 70, 'kg', now())`,
        [p.id],
      );
      const erasure = t.call(t.adminKey, { method: 'DELETE', url: `/api/v1/patients/${p.id}` });
      // Wait until the erasure is blocked behind the writer's lock on the patient row.
      for (let i = 0; i < 200; i++) {
        const { rows } = await pool.query(
          `select count(*)::int as n from pg_stat_activity
           where datname = current_database() and wait_event_type = 'Lock' and query ilike '%patients%'`,
        );
        if (rows[0].n > 0) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      await writer.query('commit');
      const res = await erasure;
      expect(res.json()).toEqual({ ok: true, deleted_id: p.id, readings_deleted: 1 });
    } finally {
      writer.release();
    }
    expect(await t.database.db.select().from(biometrics).where(eq(biometrics.patientId, p.id))).toEqual([]);
  });
});
