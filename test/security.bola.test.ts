/**
 * Broken object-level authorization: keys bound to patient A try patient B's data through
 * every place an id can enter (path, query, body, bulk items, list filters, id spellings).
 * Every attempt gets the 404 a nonexistent patient gets (per item in a bulk request: the
 * rejection an unknown patient gets), or 403 when the role lacks the permission
 * altogether, and B's data is byte-for-byte unchanged afterwards.
 */
import { asc, eq } from 'drizzle-orm';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analytics, biometrics, biometricsHourly, patients } from '../src/db/schema.js';
import type { Role } from '../src/modules/keys/keys.roles.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { newPatient, newReading, problemShape, uniqueTimestamp } from './helpers/security.js';

let t: TestApp;
let A: { id: number; name: string };
let B: { id: number; name: string; email: string };
let bReadingId: number;
/** An id no patient has. */
const MISSING = 2_000_000_000;

async function snapshotOf(patientId: number) {
  const db = t.database.db;
  return {
    patient: await db.select().from(patients).where(eq(patients.id, patientId)),
    readings: await db.select().from(biometrics).where(eq(biometrics.patientId, patientId)).orderBy(asc(biometrics.id)),
    buffer: await db
      .select()
      .from(biometricsHourly)
      .where(eq(biometricsHourly.patientId, patientId))
      .orderBy(asc(biometricsHourly.id)),
    analytics: await db
      .select()
      .from(analytics)
      .where(eq(analytics.patientId, patientId))
      .orderBy(asc(analytics.bucketStart)),
  };
}

async function seedAnalytics(patientId: number) {
  await t.database.db.insert(analytics).values({
    patientId,
    type: 'glucose',
    bucketStart: new Date('2024-03-01T10:00:00Z'),
    min: 90,
    max: 110,
    sum: 200,
    count: 2,
  });
}

/** Keys bound to patient A, with the permissions their role gives. */
const BOUND: { role: Role; reads: boolean; writesPatients: boolean; writesReadings: boolean }[] = [
  { role: 'patient', reads: true, writesPatients: false, writesReadings: true },
  { role: 'clinician', reads: true, writesPatients: true, writesReadings: true },
  { role: 'reader', reads: true, writesPatients: false, writesReadings: false },
  { role: 'device', reads: false, writesPatients: false, writesReadings: true },
];
const keyOf = {} as Record<Role, string>;
let before: Awaited<ReturnType<typeof snapshotOf>>;

beforeAll(async () => {
  t = await createTestApp();
  A = await newPatient(t, { name: 'Alpha Bound' });
  B = await newPatient(t, { name: 'Bravo Victimname' });
  await newReading(t, A.id, 101);
  bReadingId = (await newReading(t, B.id, 202)).id;
  await newReading(t, B.id, 203);
  await seedAnalytics(A.id);
  await seedAnalytics(B.id);
  for (const b of BOUND) keyOf[b.role] = await t.key(b.role, [A.id]);
  before = await snapshotOf(B.id);
});
afterAll(async () => {
  await t?.close();
});

/** What a key gets for a patient that does not exist: the reference 404. */
async function missingAnswer(key: string, req: (id: number) => InjectOptions) {
  const res = await t.call(key, req(MISSING));
  expect(res.statusCode).toBe(404);
  return problemShape(res);
}

describe.each(BOUND)('a $role key bound to patient A', (b) => {
  const expectBlocked = async (
    allowed: boolean,
    req: (id: number) => InjectOptions,
    targets: number[] = [0],
  ): Promise<void> => {
    const key = keyOf[b.role];
    for (const tgt of targets) {
      const res = await t.call(key, req(tgt || B.id));
      if (!allowed) {
        expect(res.statusCode, res.body).toBe(403);
        continue;
      }
      expect(res.statusCode, res.body).toBe(404);
      expect(problemShape(res)).toEqual(await missingAnswer(key, req));
      expect(res.body).not.toContain('Bravo');
      expect(res.body).not.toContain(B.email);
    }
  };

  it('cannot read B by path id, whatever its spelling', async () => {
    await expectBlocked(b.reads, (id) => ({ method: 'GET', url: `/api/v1/patients/${id}` }));
    for (const spelling of [`0${B.id}`, `00${B.id}`, `${B.id}.0`, `+${B.id}`, `%2B${B.id}`, `${B.id}%20`]) {
      const res = await t.call(keyOf[b.role], { method: 'GET', url: `/api/v1/patients/${spelling}` });
      expect([403, 404, 422]).toContain(res.statusCode);
      expect(res.body).not.toContain('Bravo');
    }
  });

  it('cannot change or erase B by path id', async () => {
    await expectBlocked(b.writesPatients, (id) => ({
      method: 'PATCH',
      url: `/api/v1/patients/${id}`,
      payload: { name: 'Changed By Attacker' },
    }));
    await expectBlocked(b.writesPatients, (id) => ({ method: 'DELETE', url: `/api/v1/patients/${id}` }));
  });

  it("cannot read B's readings by query id, nor by a repeated parameter", async () => {
    await expectBlocked(b.reads, (id) => ({ method: 'GET', url: `/api/v1/biometrics?patient_id=${id}` }));
    for (const q of [`patient_id=${A.id}&patient_id=${B.id}`, `patient_id=${B.id}&patient_id=${A.id}`]) {
      const res = await t.call(keyOf[b.role], { method: 'GET', url: `/api/v1/biometrics?${q}` });
      expect([403, 404, 422]).toContain(res.statusCode);
      // B's reading values, as numbers: the random request id may hold the digits "202".
      const { request_id: _requestId, ...answer } = res.json();
      expect(JSON.stringify(answer)).not.toMatch(/\b20[23]\b/);
    }
  });

  it('cannot write a reading for B through the body', async () => {
    await expectBlocked(b.writesReadings, (id) => ({
      method: 'POST',
      url: '/api/v1/biometrics',
      payload: { patient_id: id, timestamp: uniqueTimestamp(), type: 'glucose', value: 150 },
    }));
    for (const patient_id of [String(B.id), [B.id], { id: B.id }, B.id + 0.5]) {
      const res = await t.call(keyOf[b.role], {
        method: 'POST',
        url: '/api/v1/biometrics',
        payload: { patient_id, timestamp: uniqueTimestamp(), type: 'glucose', value: 150 },
      });
      expect([403, 422]).toContain(res.statusCode);
    }
  });

  it('cannot write readings for B through the bulk endpoint, as JSON or CSV', async () => {
    const key = keyOf[b.role];
    const ts = uniqueTimestamp();
    const json = await t.call(key, {
      method: 'POST',
      url: '/api/v1/biometrics/bulk',
      payload: [A.id, B.id, MISSING].map((patient_id) => ({ patient_id, timestamp: ts, type: 'glucose', value: 150 })),
    });
    const csvBody = [
      'patient_email,timestamp,glucose_mg_dL',
      `${B.email},${ts.slice(0, 19)},150`,
      `nobody-${b.role}@example.org,${ts.slice(0, 19)},150`,
    ].join('\n');
    const csv = await t.call(key, {
      method: 'POST',
      url: '/api/v1/biometrics/bulk',
      headers: { 'content-type': 'text/csv' },
      payload: csvBody,
    });
    if (!b.writesReadings) {
      expect(json.statusCode).toBe(403);
      expect(csv.statusCode).toBe(403);
      return;
    }
    // Per-item results: B's item gets exactly what an item for a patient that does not exist gets.
    expect(json.statusCode, json.body).toBe(200);
    const items = json.json().results as Record<string, unknown>[];
    expect(items[1]).toEqual({ ...items[2], index: 1 });
    expect(items[1]).toMatchObject({ status: 'rejected', reason: 'unknown_patient' });
    expect(json.json().summary).toMatchObject({ received: 3, rejected: 2 });
    expect(csv.statusCode, csv.body).toBe(200);
    const rows = csv.json().results as Record<string, unknown>[];
    expect(rows).toHaveLength(2);
    expect(rows[0]).toEqual({ ...rows[1], line: 2 });
    expect(rows[0]).toMatchObject({ status: 'rejected', reason: 'unknown_patient' });
    for (const res of [json, csv]) {
      expect(res.body).not.toContain('Bravo');
      expect(res.body).not.toContain(B.email);
    }
  });

  it("cannot delete B's reading by its record id", async () => {
    const key = keyOf[b.role];
    const res = await t.call(key, { method: 'DELETE', url: `/api/v1/biometrics/${bReadingId}` });
    if (!b.writesReadings) {
      expect(res.statusCode).toBe(403);
      return;
    }
    expect(res.statusCode).toBe(404);
    const missing = await t.call(key, { method: 'DELETE', url: '/api/v1/biometrics/9007199254740991' });
    expect(problemShape(res)).toEqual(problemShape(missing));
  });

  it("cannot read B's analytics by filter, and unfiltered lists only show A", async () => {
    await expectBlocked(b.reads, (id) => ({ method: 'GET', url: `/api/v1/analytics?patient_id=${id}` }));
    const res = await t.call(keyOf[b.role], { method: 'GET', url: '/api/v1/analytics' });
    if (!b.reads) {
      expect(res.statusCode).toBe(403);
      return;
    }
    expect(res.statusCode).toBe(200);
    const items = res.json() as { patient_id: number }[];
    expect(items.length).toBeGreaterThan(0);
    expect(new Set(items.map((i) => i.patient_id))).toEqual(new Set([A.id]));
  });

  it('sees only A in patient lists, whatever the search', async () => {
    for (const url of [
      '/api/v1/patients',
      '/api/v1/patients?size=100',
      '/api/v1/patients?search=Bravo',
      `/api/v1/patients?search=${encodeURIComponent(B.email)}`,
    ]) {
      const res = await t.call(keyOf[b.role], { method: 'GET', url });
      if (!b.reads) {
        expect(res.statusCode).toBe(403);
        continue;
      }
      expect(res.statusCode).toBe(200);
      const body = res.json() as { total: number; items: { id: number }[] };
      expect(body.items.every((p) => p.id === A.id)).toBe(true);
      expect(body.total).toBe(body.items.length);
      expect(res.body).not.toContain('Bravo');
    }
  });

  it('cannot create patients, manage keys or read the audit trail', async () => {
    const attempts: InjectOptions[] = [
      {
        method: 'POST',
        url: '/api/v1/patients',
        payload: { name: 'New', dob: '1990-01-01', gender: 'male', email: `x${b.role}@example.org` },
      },
      { method: 'POST', url: '/api/v1/keys', payload: { name: 'escalate', role: 'admin' } },
      { method: 'POST', url: '/api/v1/keys', payload: { name: 'widen', role: 'reader', patient_ids: [B.id] } },
      { method: 'GET', url: '/api/v1/keys' },
      { method: 'GET', url: `/api/v1/audit?patient_id=${B.id}` },
    ];
    for (const a of attempts) expect((await t.call(keyOf[b.role], a)).statusCode).toBe(403);
  });
});

describe('after every attempt', () => {
  it("patient B's data is unchanged", async () => {
    expect(await snapshotOf(B.id)).toEqual(before);
    expect(before.patient).toHaveLength(1);
    expect(before.readings).toHaveLength(2);
    expect(before.analytics).toHaveLength(1);
  });

  it('A remains reachable to its own keys (the matrix is not vacuous)', async () => {
    const res = await t.call(keyOf.patient, { method: 'GET', url: `/api/v1/patients/${A.id}` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: A.id, name: 'Alpha Bound' });
    const hist = await t.call(keyOf.patient, { method: 'GET', url: `/api/v1/biometrics?patient_id=${A.id}` });
    expect(hist.statusCode).toBe(200);
    const del = await t.call(keyOf.device, { method: 'DELETE', url: `/api/v1/biometrics/${bReadingId}` });
    expect(del.statusCode).toBe(404);
  });
});
