import { desc, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../src/db/database.js';
import { auditEvents } from '../src/db/schema.js';
import { createTestApp, type TestApp, uniqueEmail } from './helpers/app.js';
import { createTestDatabase } from './helpers/database.js';

const NOW = new Date('2025-06-15T12:00:00.000Z');
const DAY = 86_400_000;
const at = (msBeforeNow: number) => new Date(NOW.getTime() - msBeforeNow).toISOString();

let t: TestApp;
const ids = { crisis: 0, hypo: 0, fine: 0, empty: 0 };

async function createPatient(name: string): Promise<number> {
  const res = await t.call(t.adminKey, {
    method: 'POST',
    url: '/api/v1/patients',
    payload: { name, dob: '1960-02-03', gender: 'female', email: uniqueEmail() },
  });
  expect(res.statusCode).toBe(201);
  return res.json().id;
}

async function reading(patientId: number, type: string, value: number, timestamp: string): Promise<number> {
  const res = await t.call(t.adminKey, {
    method: 'POST',
    url: '/api/v1/biometrics',
    payload: { patient_id: patientId, type, value, timestamp },
  });
  expect(res.statusCode).toBe(200);
  return res.json().id;
}

beforeAll(async () => {
  t = await createTestApp({ now: () => NOW });
  ids.crisis = await createPatient('Carla Crisis');
  ids.hypo = await createPatient('Hugo Hypo');
  ids.fine = await createPatient('Fiona Fine');
  ids.empty = await createPatient('Emil Empty');

  // Crisis: latest pair 185/125; a newer systolic without its diastolic does not pair.
  await reading(ids.crisis, 'systolic', 185, at(2 * 3_600_000));
  await reading(ids.crisis, 'diastolic', 125, at(2 * 3_600_000));
  await reading(ids.crisis, 'systolic', 150, at(3_600_000));
  await reading(ids.crisis, 'glucose', 150, at(3_600_000));

  // Hypo: 10 glucose readings in the window (3 below, 6 in range, 1 above), latest 50.
  const values = [120, 130, 65, 140, 60, 150, 200, 110, 100, 50];
  for (const [i, v] of values.entries()) await reading(ids.hypo, 'glucose', v, at((10 - i) * DAY - DAY / 2));
  // Outside the window: 14 days and a second ago.
  await reading(ids.hypo, 'glucose', 300, at(14 * DAY + 1000));
  // Exactly 14 days ago: inside (the window start is inclusive).
  await reading(ids.hypo, 'glucose', 100, at(14 * DAY));

  await reading(ids.fine, 'glucose', 100, at(DAY));
  await reading(ids.fine, 'systolic', 115, at(DAY));
  await reading(ids.fine, 'diastolic', 75, at(DAY));
  await reading(ids.fine, 'weight', 72.5, at(DAY));
});
afterAll(async () => {
  await t?.close();
});

describe('GET /api/v1/patients/{id}/summary', () => {
  it('returns latest readings, the latest blood-pressure pair, time in range and attention', async () => {
    const res = await t.call(t.adminKey, { method: 'GET', url: `/api/v1/patients/${ids.crisis}/summary` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      patient: { id: ids.crisis, name: 'Carla Crisis', dob: '1960-02-03', gender: 'female', email: expect.any(String) },
      latest: {
        glucose: { id: expect.any(Number), value: 150, unit: 'mg/dL', timestamp: at(3_600_000), status: 'in_range' },
        systolic: { id: expect.any(Number), value: 150, unit: 'mmHg', timestamp: at(3_600_000) },
        diastolic: { id: expect.any(Number), value: 125, unit: 'mmHg', timestamp: at(2 * 3_600_000) },
        weight: null,
      },
      blood_pressure: { systolic: 185, diastolic: 125, timestamp: at(2 * 3_600_000), category: 'crisis' },
      time_in_range: {
        from: at(14 * DAY),
        // The latest timestamp a reading may carry: the clock plus 24 hours.
        to: at(-DAY),
        readings: 1,
        in_range: 1,
        below: 0,
        above: 0,
        in_range_pct: 100,
        below_pct: 0,
        above_pct: 0,
      },
      attention: { score: 90, reasons: [{ code: 'bp_crisis', message: 'Blood pressure in crisis range', points: 90 }] },
    });
  });

  it('counts glucose in range over exactly the last 14 days', async () => {
    const res = await t.call(t.adminKey, { method: 'GET', url: `/api/v1/patients/${ids.hypo}/summary` });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.time_in_range).toMatchObject({ readings: 11, in_range: 7, below: 3, above: 1 });
    expect(body.time_in_range).toMatchObject({ in_range_pct: 63.6, below_pct: 27.3, above_pct: 9.1 });
    expect(body.latest.glucose).toMatchObject({ value: 50, status: 'very_low' });
    expect(body.attention.reasons.map((r: { code: string }) => r.code)).toEqual([
      'glucose_very_low',
      'tbr_high',
      'tir_low',
    ]);
    expect(body.attention.score).toBe(130);
  });

  it('gives nulls and zero counts to a patient without readings', async () => {
    const res = await t.call(t.adminKey, { method: 'GET', url: `/api/v1/patients/${ids.empty}/summary` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      latest: { glucose: null, systolic: null, diastolic: null, weight: null },
      blood_pressure: null,
      time_in_range: { readings: 0, in_range_pct: null, below_pct: null, above_pct: null },
      attention: { score: 0, reasons: [] },
    });
  });

  it('answers the same 404 for a missing patient and one outside the key scope', async () => {
    const scoped = await t.key('clinician', [ids.fine]);
    const missing = await t.call(t.adminKey, { method: 'GET', url: '/api/v1/patients/99999999/summary' });
    const hidden = await t.call(scoped, { method: 'GET', url: `/api/v1/patients/${ids.crisis}/summary` });
    expect(missing.statusCode).toBe(404);
    expect(hidden.statusCode).toBe(404);
    expect(hidden.json().detail).toBe(missing.json().detail);
    const own = await t.call(scoped, { method: 'GET', url: `/api/v1/patients/${ids.fine}/summary` });
    expect(own.statusCode).toBe(200);
    expect(own.json().blood_pressure).toMatchObject({ systolic: 115, diastolic: 75, category: 'normal' });
  });
});

describe('GET /api/v1/patients/summary', () => {
  it('orders by attention by default, then by name', async () => {
    const res = await t.call(t.adminKey, { method: 'GET', url: '/api/v1/patients/summary' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ page: 1, size: 20, total: 4, sort: 'attention' });
    expect(body.items.map((i: { patient: { id: number } }) => i.patient.id)).toEqual([
      ids.hypo,
      ids.crisis,
      ids.empty,
      ids.fine,
    ]);
  });

  it('pages by attention with the total of all matches', async () => {
    const res = await t.call(t.adminKey, { method: 'GET', url: '/api/v1/patients/summary?size=1&page=2' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ page: 2, size: 1, total: 4 });
    expect(res.json().items.map((i: { patient: { id: number } }) => i.patient.id)).toEqual([ids.crisis]);
  });

  it('sorts by name or id and pages in the database', async () => {
    const byName = await t.call(t.adminKey, { method: 'GET', url: '/api/v1/patients/summary?sort=name&size=3' });
    expect(byName.json()).toMatchObject({ total: 4, sort: 'name' });
    expect(byName.json().items.map((i: { patient: { name: string } }) => i.patient.name)).toEqual([
      'Carla Crisis',
      'Emil Empty',
      'Fiona Fine',
    ]);
    const byId = await t.call(t.adminKey, { method: 'GET', url: '/api/v1/patients/summary?sort=id&page=2&size=2' });
    expect(byId.json().items.map((i: { patient: { id: number } }) => i.patient.id)).toEqual([ids.fine, ids.empty]);
  });

  it('searches name or email case-insensitively', async () => {
    const res = await t.call(t.adminKey, { method: 'GET', url: '/api/v1/patients/summary?search=fIoNa' });
    expect(res.json()).toMatchObject({ total: 1 });
    expect(res.json().items[0].patient.id).toBe(ids.fine);
    const none = await t.call(t.adminKey, { method: 'GET', url: '/api/v1/patients/summary?search=%25&sort=name' });
    expect(none.json()).toMatchObject({ total: 0, items: [] });
  });

  it('applies the key scope and audits the patients on the page', async () => {
    const scoped = await t.key('reader', [ids.fine, ids.empty]);
    const res = await t.call(scoped, {
      method: 'GET',
      url: '/api/v1/patients/summary',
      headers: { 'x-request-id': 'sum-audit-1' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().total).toBe(2);
    expect(
      res
        .json()
        .items.map((i: { patient: { id: number } }) => i.patient.id)
        .sort(),
    ).toEqual([ids.fine, ids.empty].sort());
    const [event] = await t.database.db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.requestId, 'sum-audit-1'))
      .orderBy(desc(auditEvents.id));
    expect(event).toMatchObject({ route: '/api/v1/patients/summary', outcome: 'allowed', status: 200 });
    expect([...(event?.patientIds ?? [])].sort()).toEqual([ids.fine, ids.empty].sort());
  });

  it('needs readings:read: 401 without a key, 403 for a device key', async () => {
    expect((await t.call(null, { method: 'GET', url: '/api/v1/patients/summary' })).statusCode).toBe(401);
    const device = await t.key('device');
    expect((await t.call(device, { method: 'GET', url: '/api/v1/patients/summary' })).statusCode).toBe(403);
  });

  it('refuses to score more patients than the attention limit, and still pages them by name', async () => {
    const { ATTENTION_SORT_LIMIT } = await import('../src/modules/summary/summary.schemas.js');
    const db = await createTestDatabase();
    const big = await createTestApp({ database: db, now: () => NOW });
    try {
      await queryRows(
        db.db,
        sql`insert into patients (name, dob, gender, email)
            select 'Many ' || g, '1980-01-01', 'other', 'many.' || g || '@example.org'
            from generate_series(1, ${ATTENTION_SORT_LIMIT + 1}) g`,
      );
      const res = await big.call(big.adminKey, { method: 'GET', url: '/api/v1/patients/summary' });
      expect(res.statusCode).toBe(422);
      expect(res.json().errors).toEqual([
        {
          field: 'query.sort',
          message: `sorting by attention is limited to ${ATTENTION_SORT_LIMIT} patients (${ATTENTION_SORT_LIMIT + 1} match); narrow the list with search or sort by name or id`,
        },
      ]);
      const narrowed = await big.call(big.adminKey, {
        method: 'GET',
        url: '/api/v1/patients/summary?search=many%2010',
      });
      expect(narrowed.statusCode).toBe(200);
      const byName = await big.call(big.adminKey, { method: 'GET', url: '/api/v1/patients/summary?sort=name&page=3' });
      expect(byName.statusCode).toBe(200);
      expect(byName.json()).toMatchObject({ total: ATTENTION_SORT_LIMIT + 1, page: 3 });
      expect(byName.json().items).toHaveLength(20);
    } finally {
      await big.close();
      await db.close();
    }
  });

  it.each(['sort=risk', 'size=101', 'page=0', 'search='])('rejects %s with 422', async (q) => {
    const res = await t.call(t.adminKey, { method: 'GET', url: `/api/v1/patients/summary?${q}` });
    expect(res.statusCode).toBe(422);
    expect(res.json().errors[0].field).toMatch(/^query\./);
  });
});
