import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { biometrics, biometricsHourly } from '../src/db/schema.js';
import { createTestApp, type TestApp, uniqueEmail } from './helpers/app.js';
import { expectProblem, expectValidation } from './helpers/problem.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

const TS_MESSAGE = 'must be an ISO 8601 date-time (for example 2025-05-24T08:00:00Z); without an offset it means UTC';
const TYPE_MESSAGE = 'must be one of: glucose, systolic, diastolic, weight';

async function newPatient(): Promise<number> {
  const res = await t.call(t.adminKey, {
    method: 'POST',
    url: '/api/v1/patients',
    payload: { name: 'Reading Tester', dob: '1970-01-01', gender: 'other', email: uniqueEmail('bio') },
  });
  expect(res.statusCode).toBe(201);
  return res.json().id;
}

function upsert(payload: unknown) {
  return t.call(t.adminKey, { method: 'POST', url: '/api/v1/biometrics', payload: payload as object });
}

function history(query: string) {
  return t.call(t.adminKey, { method: 'GET', url: `/api/v1/biometrics?${query}` });
}

async function storedReadings(patientId: number) {
  return t.database.db
    .select({
      id: biometrics.id,
      type: biometrics.type,
      value: biometrics.value,
      unit: biometrics.unit,
      timestamp: biometrics.timestamp,
    })
    .from(biometrics)
    .where(eq(biometrics.patientId, patientId))
    .orderBy(asc(biometrics.id));
}

async function bufferRows(patientId: number) {
  const rows = await t.database.db
    .select({ type: biometricsHourly.type, bucketStart: biometricsHourly.bucketStart })
    .from(biometricsHourly)
    .where(eq(biometricsHourly.patientId, patientId))
    .orderBy(asc(biometricsHourly.id));
  return rows.map((r) => ({ type: r.type, bucket: r.bucketStart.toISOString() }));
}

describe('POST /api/v1/biometrics (upsert)', () => {
  it('inserts, then updates the same (patient, type, timestamp) in place', async () => {
    const pid = await newPatient();
    const first = await upsert({ patient_id: pid, timestamp: '2025-05-24T08:30:00Z', type: 'glucose', value: 95 });
    expect(first.statusCode).toBe(200);
    const id = first.json().id;
    expect(first.json()).toEqual({
      id: expect.any(Number),
      patient_id: pid,
      timestamp: '2025-05-24T08:30:00.000Z',
      type: 'glucose',
      value: 95,
      unit: 'mg/dL',
    });
    expect(Number.isInteger(id)).toBe(true);

    const second = await upsert({ patient_id: pid, timestamp: '2025-05-24T08:30:00Z', type: 'glucose', value: 101.5 });
    expect(second.statusCode).toBe(200);
    expect(second.json()).toEqual({
      id,
      patient_id: pid,
      timestamp: '2025-05-24T08:30:00.000Z',
      type: 'glucose',
      value: 101.5,
      unit: 'mg/dL',
    });
    expect(await storedReadings(pid)).toEqual([
      { id, type: 'glucose', value: 101.5, unit: 'mg/dL', timestamp: new Date('2025-05-24T08:30:00Z') },
    ]);
    // One change-buffer row per change, in the reading's UTC hour.
    expect(await bufferRows(pid)).toEqual([
      { type: 'glucose', bucket: '2025-05-24T08:00:00.000Z' },
      { type: 'glucose', bucket: '2025-05-24T08:00:00.000Z' },
    ]);
  });

  it('answers an unchanged upsert with the stored record and writes no buffer row', async () => {
    const pid = await newPatient();
    const payload = { patient_id: pid, timestamp: '2025-05-24T09:00:00Z', type: 'weight', value: 70.25 };
    const first = await upsert(payload);
    const [before] = await t.database.db.select().from(biometrics).where(eq(biometrics.patientId, pid));
    const again = await upsert(payload);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(first.json());
    const [after] = await t.database.db.select().from(biometrics).where(eq(biometrics.patientId, pid));
    expect(after?.updatedAt).toEqual(before?.updatedAt);
    expect(await bufferRows(pid)).toEqual([{ type: 'weight', bucket: '2025-05-24T09:00:00.000Z' }]);
  });

  it('treats the same instant in another offset as the same reading', async () => {
    const pid = await newPatient();
    const a = await upsert({ patient_id: pid, timestamp: '2025-05-24T08:30:00Z', type: 'systolic', value: 120 });
    const b = await upsert({ patient_id: pid, timestamp: '2025-05-24T10:30:00+02:00', type: 'systolic', value: 125 });
    expect(b.json()).toEqual({ ...a.json(), value: 125 });
    expect(await storedReadings(pid)).toHaveLength(1);
  });

  it('keeps one reading per type at the same timestamp', async () => {
    const pid = await newPatient();
    const ts = '2025-05-24T08:30:00Z';
    const s = await upsert({ patient_id: pid, timestamp: ts, type: 'systolic', value: 120 });
    const d = await upsert({ patient_id: pid, timestamp: ts, type: 'diastolic', value: 80 });
    expect(s.json().id).not.toBe(d.json().id);
    expect((await storedReadings(pid)).map((r) => [r.type, r.value])).toEqual([
      ['systolic', 120],
      ['diastolic', 80],
    ]);
  });

  it('buckets by the UTC hour of the instant, whatever offset it was written in', async () => {
    const pid = await newPatient();
    // 08:30 at +05:45 is 02:45 UTC; 23:59:59.999 at -01:00 is 00:59:59.999 UTC the next day.
    await upsert({ patient_id: pid, timestamp: '2025-05-24T08:30:00+05:45', type: 'glucose', value: 90 });
    await upsert({ patient_id: pid, timestamp: '2025-05-24T23:59:59.999-01:00', type: 'glucose', value: 91 });
    await upsert({ patient_id: pid, timestamp: '2025-05-24T05:00:00', type: 'weight', value: 80 });
    expect(await bufferRows(pid)).toEqual([
      { type: 'glucose', bucket: '2025-05-24T02:00:00.000Z' },
      { type: 'glucose', bucket: '2025-05-25T00:00:00.000Z' },
      { type: 'weight', bucket: '2025-05-24T05:00:00.000Z' },
    ]);
  });

  describe('units', () => {
    it('converts mmol/L glucose with the exact factor 18.01559', async () => {
      const pid = await newPatient();
      const res = await upsert({
        patient_id: pid,
        timestamp: '2025-05-24T08:00:00Z',
        type: 'glucose',
        value: 5.5,
        unit: 'mmol/L',
      });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ value: 5.5 * 18.01559, unit: 'mg/dL' });
      expect((await storedReadings(pid))[0]).toMatchObject({ value: 5.5 * 18.01559, unit: 'mg/dL' });
    });

    it('converts lb to kg with the exact factor 0.45359237', async () => {
      const pid = await newPatient();
      const res = await upsert({
        patient_id: pid,
        timestamp: '2025-05-24T08:00:00Z',
        type: 'weight',
        value: 154,
        unit: 'lb',
      });
      expect(res.json()).toMatchObject({ value: 154 * 0.45359237, unit: 'kg' });
      expect((await storedReadings(pid))[0]).toMatchObject({ value: 154 * 0.45359237, unit: 'kg' });
    });

    it('accepts the canonical unit in any letter case', async () => {
      const pid = await newPatient();
      const res = await upsert({
        patient_id: pid,
        timestamp: '2025-05-24T08:00:00Z',
        type: 'systolic',
        value: 120,
        unit: 'MMHG',
      });
      expect(res.json()).toMatchObject({ value: 120, unit: 'mmHg' });
    });

    it.each([
      ['glucose', 'kg', 'this unit is not accepted for glucose; use mg/dL or mmol/L'],
      ['weight', 'stone', 'this unit is not accepted for weight; use kg or lb'],
      ['systolic', 'constructor', 'this unit is not accepted for systolic; use mmHg'],
    ])('rejects %s in %s with 422 and stores nothing', async (type, unit, message) => {
      const pid = await newPatient();
      const res = await upsert({ patient_id: pid, timestamp: '2025-05-24T08:00:00Z', type, value: 100, unit });
      expectValidation(res, '/api/v1/biometrics', [{ field: 'body.unit', message }]);
      expect(await storedReadings(pid)).toEqual([]);
      expect(await bufferRows(pid)).toEqual([]);
    });

    it('rejects an empty or over-long unit', async () => {
      const pid = await newPatient();
      const base = { patient_id: pid, timestamp: '2025-05-24T08:00:00Z', type: 'weight', value: 70 };
      expectValidation(await upsert({ ...base, unit: '' }), '/api/v1/biometrics', [
        { field: 'body.unit', message: 'must NOT have fewer than 1 characters' },
      ]);
      expectValidation(await upsert({ ...base, unit: 'k'.repeat(17) }), '/api/v1/biometrics', [
        { field: 'body.unit', message: 'must NOT have more than 16 characters' },
      ]);
    });
  });

  describe('physiological limits (edges inclusive)', () => {
    const limits = [
      ['glucose', 10, 1500, 'mg/dL'],
      ['systolic', 40, 300, 'mmHg'],
      ['diastolic', 20, 200, 'mmHg'],
      ['weight', 0.5, 700, 'kg'],
    ] as const;

    it.each(limits)('%s accepts %d and %d', async (type, min, max, unit) => {
      const pid = await newPatient();
      const lo = await upsert({ patient_id: pid, timestamp: '2025-05-24T08:00:00Z', type, value: min });
      const hi = await upsert({ patient_id: pid, timestamp: '2025-05-24T09:00:00Z', type, value: max });
      expect([lo.statusCode, hi.statusCode]).toEqual([200, 200]);
      expect([lo.json().value, hi.json().value, hi.json().unit]).toEqual([min, max, unit]);
    });

    it.each(limits)('%s rejects values outside %d..%d', async (type, min, max, unit) => {
      const pid = await newPatient();
      const message = `${type} must be between ${min} and ${max} ${unit}`;
      for (const value of [min - 0.01, max + 0.01, 0, -5, 1e308]) {
        const res = await upsert({ patient_id: pid, timestamp: '2025-05-24T08:00:00Z', type, value });
        expectValidation(res, '/api/v1/biometrics', [{ field: 'body.value', message }]);
      }
      expect(await storedReadings(pid)).toEqual([]);
    });
  });

  describe('body validation', () => {
    it('rejects a number too large for a double (1e400 parses as Infinity)', async () => {
      const pid = await newPatient();
      const res = await t.call(t.adminKey, {
        method: 'POST',
        url: '/api/v1/biometrics',
        headers: { 'content-type': 'application/json' },
        payload: `{"patient_id": ${pid}, "timestamp": "2025-05-24T08:00:00Z", "type": "glucose", "value": 1e400}`,
      });
      expectValidation(res, '/api/v1/biometrics', [{ field: 'body.value', message: 'value must be a finite number' }]);
    });

    it.each([
      [{ value: '80' }, 'body.value', 'must be number'],
      [{ value: null }, 'body.value', 'must be number'],
      [{ value: true }, 'body.value', 'must be number'],
      [{ patient_id: '1' }, 'body.patient_id', 'must be integer'],
      [{ patient_id: 1.5 }, 'body.patient_id', 'must be integer'],
      [{ patient_id: 0 }, 'body.patient_id', 'must be >= 1'],
      [{ patient_id: 2147483648 }, 'body.patient_id', 'must be <= 2147483647'],
      [{ type: 'Glucose' }, 'body.type', TYPE_MESSAGE],
      [{ type: 'heart_rate' }, 'body.type', TYPE_MESSAGE],
      [{ type: 1 }, 'body.type', TYPE_MESSAGE],
      [{ timestamp: 1716539400 }, 'body.timestamp', 'must be string'],
      [
        { timestamp: '2025-05-24T08:00:00Z'.padEnd(41, '0') },
        'body.timestamp',
        'must NOT have more than 40 characters',
      ],
      [{ extra: 1 }, 'body.extra', 'is not an allowed property'],
      [{ unit: 5 }, 'body.unit', 'must be string'],
    ])('rejects %j (%s %s)', async (patch, field, message) => {
      const pid = await newPatient();
      const res = await upsert({
        patient_id: pid,
        timestamp: '2025-05-24T08:00:00Z',
        type: 'glucose',
        value: 80,
        ...patch,
      });
      const errors = res.json().errors as { field: string; message: string }[];
      expect(res.statusCode).toBe(422);
      expect(errors).toContainEqual({ field, message });
      expect(await storedReadings(pid)).toEqual([]);
    });

    it('names every missing field', async () => {
      expectValidation(await upsert({}), '/api/v1/biometrics', [
        { field: 'body.patient_id', message: 'is required' },
        { field: 'body.timestamp', message: 'is required' },
        { field: 'body.type', message: 'is required' },
        { field: 'body.value', message: 'is required' },
      ]);
    });

    it('rejects a NUL character in any string', async () => {
      const pid = await newPatient();
      const res = await upsert({
        patient_id: pid,
        timestamp: '2025-05-24T08:00:00Z',
        type: 'glucose',
        value: 80,
        unit: 'mg/dL\u0000',
      });
      expectValidation(res, '/api/v1/biometrics', [
        { field: 'body.unit', message: 'must not contain NUL characters or unpaired surrogate code units' },
      ]);
    });
  });

  describe('timestamps', () => {
    it.each([
      ['2025-05-24T08:30:00', '2025-05-24T08:30:00.000Z'],
      ['2025-05-24 08:30:00', '2025-05-24T08:30:00.000Z'],
      ['2025-05-24T08:30:00.123456Z', '2025-05-24T08:30:00.123Z'],
      ['2025-05-24T08:30:00-05:00', '2025-05-24T13:30:00.000Z'],
      ['2025-05-24T08:30:00+0530', '2025-05-24T03:00:00.000Z'],
    ])('stores %s as the instant %s and answers in UTC with Z', async (input, expected) => {
      const pid = await newPatient();
      const res = await upsert({ patient_id: pid, timestamp: input, type: 'glucose', value: 100 });
      expect(res.statusCode).toBe(200);
      expect(res.json().timestamp).toBe(expected);
      expect((await storedReadings(pid))[0]?.timestamp.toISOString()).toBe(expected);
    });

    it.each([
      '2025-02-30T08:00:00Z',
      '2025-02-29T08:00:00Z',
      '2025-13-01T08:00:00Z',
      '2025-05-24T24:00:00Z',
      '2025-05-24T08:60:00Z',
      '2025-05-24T08:00:00+25:00',
      '0050-05-24T08:00:00Z',
      '1899-12-31T23:59:59Z',
      '2200-01-01T00:00:00Z',
      'yesterday',
      '',
    ])('rejects %j with 422', async (ts) => {
      const pid = await newPatient();
      const res = await upsert({ patient_id: pid, timestamp: ts, type: 'glucose', value: 100 });
      expectValidation(res, '/api/v1/biometrics', [{ field: 'body.timestamp', message: TS_MESSAGE }]);
      expect(await storedReadings(pid)).toEqual([]);
    });
  });

  it('answers 404, not a foreign-key 500, for an unknown patient', async () => {
    const res = await upsert({
      patient_id: 2147483647,
      timestamp: '2025-05-24T08:00:00Z',
      type: 'glucose',
      value: 100,
    });
    expectProblem(res, { status: 404, code: 'not_found', detail: 'Patient not found', instance: '/api/v1/biometrics' });
    expect(await storedReadings(2147483647)).toEqual([]);
    expect(await bufferRows(2147483647)).toEqual([]);
  });

  it('answers 401 without a key, whatever the body', async () => {
    for (const payload of [
      {},
      { patient_id: 'x' },
      { patient_id: 1, timestamp: '2025-05-24T08:00:00Z', type: 'glucose', value: 90 },
    ]) {
      const res = await t.call(null, { method: 'POST', url: '/api/v1/biometrics', payload });
      expectProblem(res, {
        status: 401,
        code: 'unauthorized',
        detail: 'A valid API key is required',
        instance: '/api/v1/biometrics',
      });
    }
  });
});

describe('GET /api/v1/biometrics (history)', () => {
  let pid: number;
  const ids: Record<string, number> = {};

  beforeAll(async () => {
    pid = await newPatient();
    const readings = [
      ['g1', '2025-05-01T08:00:00Z', 'glucose', 90],
      ['s1', '2025-05-01T08:00:00Z', 'systolic', 120],
      ['d1', '2025-05-01T08:00:00Z', 'diastolic', 80],
      ['g2', '2025-05-02T08:00:00Z', 'glucose', 95],
      ['w1', '2025-05-03T08:00:00Z', 'weight', 70],
      ['g3', '2025-05-04T08:00:00Z', 'glucose', 100],
    ] as const;
    for (const [name, timestamp, type, value] of readings) {
      const res = await upsert({ patient_id: pid, timestamp, type, value });
      expect(res.statusCode).toBe(200);
      ids[name] = res.json().id;
    }
  });

  const item = (name: string, timestamp: string, type: string, value: number, unit: string) => ({
    id: ids[name],
    patient_id: pid,
    timestamp,
    type,
    value,
    unit,
  });

  it('lists newest first, breaking timestamp ties by id (newest id first)', async () => {
    const res = await history(`patient_id=${pid}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      page: 1,
      size: 20,
      total: 6,
      items: [
        item('g3', '2025-05-04T08:00:00.000Z', 'glucose', 100, 'mg/dL'),
        item('w1', '2025-05-03T08:00:00.000Z', 'weight', 70, 'kg'),
        item('g2', '2025-05-02T08:00:00.000Z', 'glucose', 95, 'mg/dL'),
        item('d1', '2025-05-01T08:00:00.000Z', 'diastolic', 80, 'mmHg'),
        item('s1', '2025-05-01T08:00:00.000Z', 'systolic', 120, 'mmHg'),
        item('g1', '2025-05-01T08:00:00.000Z', 'glucose', 90, 'mg/dL'),
      ],
    });
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('filters by type', async () => {
    const res = await history(`patient_id=${pid}&type=glucose`);
    expect(res.json()).toEqual({
      page: 1,
      size: 20,
      total: 3,
      items: [
        item('g3', '2025-05-04T08:00:00.000Z', 'glucose', 100, 'mg/dL'),
        item('g2', '2025-05-02T08:00:00.000Z', 'glucose', 95, 'mg/dL'),
        item('g1', '2025-05-01T08:00:00.000Z', 'glucose', 90, 'mg/dL'),
      ],
    });
  });

  it('reads an empty type as no filter, as the reference does', async () => {
    const all = await history(`patient_id=${pid}`);
    const empty = await history(`patient_id=${pid}&type=`);
    expect({ status: empty.statusCode, body: empty.json() }).toEqual({ status: 200, body: all.json() });
    expect(all.json().total).toBe(6);
    const paged = await history(`patient_id=${pid}&type=&size=2&page=2`);
    expect(paged.json()).toEqual({
      page: 2,
      size: 2,
      total: 6,
      items: [
        item('g2', '2025-05-02T08:00:00.000Z', 'glucose', 95, 'mg/dL'),
        item('d1', '2025-05-01T08:00:00.000Z', 'diastolic', 80, 'mmHg'),
      ],
    });
  });

  it('takes from inclusive and to exclusive, in any offset', async () => {
    const res = await history(`patient_id=${pid}&from=2025-05-02T08:00:00Z&to=2025-05-04T08:00:00Z`);
    expect(res.json().items.map((i: { id: number }) => i.id)).toEqual([ids.w1, ids.g2]);
    expect(res.json().total).toBe(2);
    // 10:00+02:00 is 08:00Z: the same bounds written differently.
    const offset = await history(
      `patient_id=${pid}&from=${encodeURIComponent('2025-05-02T10:00:00+02:00')}&to=${encodeURIComponent('2025-05-04T10:00:00+02:00')}`,
    );
    expect(offset.json()).toEqual(res.json());
    // A date alone is midnight UTC.
    const dates = await history(`patient_id=${pid}&from=2025-05-03&type=glucose`);
    expect(dates.json().items.map((i: { id: number }) => i.id)).toEqual([ids.g3]);
  });

  it('pages with a stable order and the total of all matches', async () => {
    const p1 = await history(`patient_id=${pid}&size=4&page=1`);
    const p2 = await history(`patient_id=${pid}&size=4&page=2`);
    const p3 = await history(`patient_id=${pid}&size=4&page=3`);
    expect([p1.json().page, p1.json().size, p1.json().total]).toEqual([1, 4, 6]);
    expect(p1.json().items.map((i: { id: number }) => i.id)).toEqual([ids.g3, ids.w1, ids.g2, ids.d1]);
    expect(p2.json()).toEqual({
      page: 2,
      size: 4,
      total: 6,
      items: [
        item('s1', '2025-05-01T08:00:00.000Z', 'systolic', 120, 'mmHg'),
        item('g1', '2025-05-01T08:00:00.000Z', 'glucose', 90, 'mg/dL'),
      ],
    });
    expect(p3.json()).toEqual({ page: 3, size: 4, total: 6, items: [] });
  });

  it('accepts sizes 1 to 1000', async () => {
    expect((await history(`patient_id=${pid}&size=1`)).json().items).toHaveLength(1);
    expect((await history(`patient_id=${pid}&size=1000`)).json()).toMatchObject({ size: 1000, total: 6 });
  });

  it.each([
    ['size=0', 'query.size', 'must be >= 1'],
    ['size=1001', 'query.size', 'must be <= 1000'],
    ['page=0', 'query.page', 'must be >= 1'],
    ['page=x', 'query.page', 'must be integer'],
    ['page=1e2', 'query.page', 'must be integer'],
    ['size=0x10', 'query.size', 'must be integer'],
    ['type=pulse', 'query.type', TYPE_MESSAGE],
    ['type=%20', 'query.type', TYPE_MESSAGE],
    ['from=', 'query.from', TS_MESSAGE],
    ['from=2025-02-30', 'query.from', TS_MESSAGE],
    ['to=tomorrow', 'query.to', TS_MESSAGE],
  ])('rejects %s with 422', async (q, field, message) => {
    expectValidation(await history(`patient_id=${pid}&${q}`), '/api/v1/biometrics', [{ field, message }]);
  });

  it('requires patient_id, as the reference does', async () => {
    expectValidation(await history(''), '/api/v1/biometrics', [{ field: 'query.patient_id', message: 'is required' }]);
    expectValidation(await history('patient_id=abc'), '/api/v1/biometrics', [
      { field: 'query.patient_id', message: 'must be integer' },
    ]);
    expectValidation(await history('patient_id=99999999999'), '/api/v1/biometrics', [
      { field: 'query.patient_id', message: 'must be <= 2147483647' },
    ]);
  });

  it('ignores unknown query parameters', async () => {
    const res = await history(`patient_id=${pid}&size=1&sort=asc&foo=bar`);
    expect(res.statusCode).toBe(200);
    expect(res.json().items.map((i: { id: number }) => i.id)).toEqual([ids.g3]);
  });

  it('answers 404 for an unknown patient and an empty page for a patient without readings', async () => {
    expectProblem(await history('patient_id=2147483647'), {
      status: 404,
      code: 'not_found',
      detail: 'Patient not found',
      instance: '/api/v1/biometrics',
    });
    const empty = await newPatient();
    const res = await history(`patient_id=${empty}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ page: 1, size: 20, total: 0, items: [] });
  });

  it('answers 404 for a patient outside the key scope, as for a missing one', async () => {
    const other = await newPatient();
    const scoped = await t.key('clinician', [other]);
    const res = await t.call(scoped, { method: 'GET', url: `/api/v1/biometrics?patient_id=${pid}` });
    expectProblem(res, { status: 404, code: 'not_found', detail: 'Patient not found', instance: '/api/v1/biometrics' });
  });
});

describe('DELETE /api/v1/biometrics/:id', () => {
  it('deletes, records the bucket, then answers 404', async () => {
    const pid = await newPatient();
    const created = await upsert({
      patient_id: pid,
      timestamp: '2025-05-24T08:45:00+01:00',
      type: 'diastolic',
      value: 85,
    });
    const id = created.json().id;
    const del = await t.call(t.adminKey, { method: 'DELETE', url: `/api/v1/biometrics/${id}` });
    expect(del.statusCode).toBe(200);
    expect(del.json()).toEqual({ ok: true, deleted_id: id });
    expect(await storedReadings(pid)).toEqual([]);
    expect(await bufferRows(pid)).toEqual([
      { type: 'diastolic', bucket: '2025-05-24T07:00:00.000Z' },
      { type: 'diastolic', bucket: '2025-05-24T07:00:00.000Z' },
    ]);
    const again = await t.call(t.adminKey, { method: 'DELETE', url: `/api/v1/biometrics/${id}` });
    expectProblem(again, {
      status: 404,
      code: 'not_found',
      detail: 'Reading not found',
      instance: `/api/v1/biometrics/${id}`,
    });
    expect(await bufferRows(pid)).toHaveLength(2);
    expect((await history(`patient_id=${pid}`)).json()).toEqual({ page: 1, size: 20, total: 0, items: [] });
  });

  it('answers 404 for a reading of a patient outside the key scope and keeps it', async () => {
    const pid = await newPatient();
    const other = await newPatient();
    const created = await upsert({ patient_id: pid, timestamp: '2025-05-24T08:00:00Z', type: 'weight', value: 60 });
    const scoped = await t.key('clinician', [other]);
    const res = await t.call(scoped, { method: 'DELETE', url: `/api/v1/biometrics/${created.json().id}` });
    expect(res.statusCode).toBe(404);
    expect(await storedReadings(pid)).toHaveLength(1);
  });

  it.each([
    ['0', 'must be >= 1'],
    ['-3', 'must be >= 1'],
    ['abc', 'must be integer'],
    ['1.5', 'must be integer'],
    ['1e3', 'must be integer'],
    ['9007199254740992', 'must be <= 9007199254740991'],
    ['99999999999999999999999', 'must be <= 9007199254740991'],
  ])('rejects the id %s with 422', async (id, message) => {
    const res = await t.call(t.adminKey, { method: 'DELETE', url: `/api/v1/biometrics/${id}` });
    expectValidation(res, `/api/v1/biometrics/${id}`, [{ field: 'path.id', message }]);
  });

  it('answers 404 for ids beyond int4 that do not exist', async () => {
    const res = await t.call(t.adminKey, { method: 'DELETE', url: '/api/v1/biometrics/9007199254740991' });
    expectProblem(res, {
      status: 404,
      code: 'not_found',
      detail: 'Reading not found',
      instance: '/api/v1/biometrics/9007199254740991',
    });
  });
});
