import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp, uniqueEmail } from './helpers/app.js';
import { expectValidation } from './helpers/problem.js';

let t: TestApp;
let patientId = 0;
let otherId = 0;

async function createPatient(): Promise<number> {
  const res = await t.call(t.adminKey, {
    method: 'POST',
    url: '/api/v1/patients',
    payload: { name: 'Sam Series', dob: '1970-01-01', gender: 'other', email: uniqueEmail() },
  });
  expect(res.statusCode).toBe(201);
  return res.json().id;
}

async function reading(type: string, value: number, timestamp: string, unit?: string): Promise<void> {
  const res = await t.call(t.adminKey, {
    method: 'POST',
    url: '/api/v1/biometrics',
    payload: { patient_id: patientId, type, value, timestamp, ...(unit ? { unit } : {}) },
  });
  expect(res.statusCode).toBe(200);
}

const series = (q: string, key: string | null = t.adminKey) =>
  t.call(key, { method: 'GET', url: `/api/v1/biometrics/series?${q}` });

beforeAll(async () => {
  t = await createTestApp();
  patientId = await createPatient();
  otherId = await createPatient();
  // 2025-03-08/09: the US switches to daylight time on the 9th at 02:00 local.
  await reading('glucose', 100, '2025-03-08T03:10:00Z'); // New York: 7 March, 22:10
  await reading('glucose', 140, '2025-03-08T14:00:00Z');
  await reading('glucose', 150, '2025-03-08T14:40:00Z');
  await reading('glucose', 90, '2025-03-09T12:00:00Z');
  await reading('weight', 154, '2025-03-08T14:00:00Z', 'lb');
});
afterAll(async () => {
  await t?.close();
});

describe('GET /api/v1/biometrics/series', () => {
  it('aggregates per UTC day, oldest first, in canonical units', async () => {
    const res = await series(`patient_id=${patientId}&from=2025-03-01T00:00:00Z&to=2025-03-31T00:00:00Z&bucket=day`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      patient_id: patientId,
      bucket: 'day',
      tz: 'UTC',
      from: '2025-03-01T00:00:00.000Z',
      to: '2025-03-31T00:00:00.000Z',
      items: [
        {
          type: 'glucose',
          bucket_start: '2025-03-08T00:00:00.000Z',
          bucket_end: '2025-03-09T00:00:00.000Z',
          min: 100,
          max: 150,
          avg: 130,
          count: 3,
          unit: 'mg/dL',
        },
        {
          type: 'glucose',
          bucket_start: '2025-03-09T00:00:00.000Z',
          bucket_end: '2025-03-10T00:00:00.000Z',
          min: 90,
          max: 90,
          avg: 90,
          count: 1,
          unit: 'mg/dL',
        },
        {
          type: 'weight',
          bucket_start: '2025-03-08T00:00:00.000Z',
          bucket_end: '2025-03-09T00:00:00.000Z',
          min: 154 * 0.45359237,
          max: 154 * 0.45359237,
          avg: 154 * 0.45359237,
          count: 1,
          unit: 'kg',
        },
      ],
    });
  });

  it("uses the viewer's calendar days, including a 23-hour day at the DST change", async () => {
    const res = await series(
      `patient_id=${patientId}&type=glucose&from=2025-03-01T00:00:00Z&to=2025-03-31T00:00:00Z&bucket=day&tz=America/New_York`,
    );
    expect(res.statusCode).toBe(200);
    expect(
      res
        .json()
        .items.map((i: { bucket_start: string; bucket_end: string; count: number }) => [
          i.bucket_start,
          i.bucket_end,
          i.count,
        ]),
    ).toEqual([
      ['2025-03-07T05:00:00.000Z', '2025-03-08T05:00:00.000Z', 1],
      ['2025-03-08T05:00:00.000Z', '2025-03-09T05:00:00.000Z', 2],
      ['2025-03-09T05:00:00.000Z', '2025-03-10T04:00:00.000Z', 1],
    ]);
  });

  it('aggregates per hour with from inclusive and to exclusive', async () => {
    const res = await series(
      `patient_id=${patientId}&type=glucose&from=2025-03-08T14:00:00Z&to=2025-03-09T12:00:00Z&bucket=hour`,
    );
    expect(res.statusCode).toBe(200);
    expect(res.json().items).toEqual([
      {
        type: 'glucose',
        bucket_start: '2025-03-08T14:00:00.000Z',
        bucket_end: '2025-03-08T15:00:00.000Z',
        min: 140,
        max: 150,
        avg: 145,
        count: 2,
        unit: 'mg/dL',
      },
    ]);
  });

  it('returns no items for a patient without readings in the range', async () => {
    const res = await series(`patient_id=${otherId}&from=2025-03-01T00:00:00Z&to=2025-03-02T00:00:00Z`);
    expect(res.statusCode).toBe(200);
    expect(res.json().items).toEqual([]);
  });

  it.each([
    ['from=2025-03-02T00:00:00Z&to=2025-03-01T00:00:00Z', 'query.to'],
    ['from=2020-01-01T00:00:00Z&to=2025-01-01T00:00:00Z&bucket=hour', 'query.bucket'],
    ['from=2025-03-01T00:00:00Z&to=2025-03-02T00:00:00Z&tz=Mars/Olympus_Mons', 'query.tz'],
    ['from=2025-03-01T00:00:00Z&to=2025-03-02T00:00:00Z&tz=%27%3B%20drop', 'query.tz'],
    ['from=2025-03-01T00:00:00Z&to=2025-03-02T00:00:00Z&bucket=week', 'query.bucket'],
    ['to=2025-03-02T00:00:00Z', 'query.from'],
  ])('rejects %s with 422 naming %s', async (q, field) => {
    const res = await series(`patient_id=${patientId}&${q}`);
    expect(res.statusCode).toBe(422);
    expect(res.json().errors.map((e: { field: string }) => e.field)).toContain(field);
  });

  it.each(['+05', '-03', '+05:30', '+0530', '0', '5', 'UTC+5', 'GMT-3', 'utc-05', 'UT+1', 'GMT+0'])(
    'refuses the offset or POSIX zone %s with 422 on query.tz, on every Node version',
    async (tz) => {
      const res = await series(
        `patient_id=${patientId}&from=2025-03-01T00:00:00Z&to=2025-03-02T00:00:00Z&tz=${encodeURIComponent(tz)}`,
      );
      expectValidation(res, '/api/v1/biometrics/series', [
        {
          field: 'query.tz',
          message: 'must be an IANA time zone name such as Europe/Paris (UTC offsets are not accepted)',
        },
      ]);
    },
  );

  it('reads Etc/GMT+5 as IANA does (five hours behind UTC), in the database too', async () => {
    const res = await series(
      `patient_id=${patientId}&type=weight&from=2025-03-01T00:00:00Z&to=2025-03-31T00:00:00Z&bucket=day&tz=Etc/GMT%2B5`,
    );
    expect({ status: res.statusCode, body: res.json() }).toEqual({
      status: 200,
      body: {
        patient_id: patientId,
        bucket: 'day',
        tz: 'Etc/GMT+5',
        from: '2025-03-01T00:00:00.000Z',
        to: '2025-03-31T00:00:00.000Z',
        items: [
          {
            type: 'weight',
            bucket_start: '2025-03-08T05:00:00.000Z',
            bucket_end: '2025-03-09T05:00:00.000Z',
            min: 154 * 0.45359237,
            max: 154 * 0.45359237,
            avg: 154 * 0.45359237,
            count: 1,
            unit: 'kg',
          },
        ],
      },
    });
  });

  it('applies the key scope with the same 404 as a missing patient, and needs a reading permission', async () => {
    const range = 'from=2025-03-01T00:00:00Z&to=2025-03-31T00:00:00Z';
    const scoped = await t.key('patient', [otherId]);
    const hidden = await series(`patient_id=${patientId}&${range}`, scoped);
    const missing = await series(`patient_id=99999999&${range}`);
    expect(hidden.statusCode).toBe(404);
    expect(missing.statusCode).toBe(404);
    expect(hidden.json().detail).toBe(missing.json().detail);
    expect((await series(`patient_id=${otherId}&${range}`, scoped)).statusCode).toBe(200);
    expect((await series(`patient_id=${patientId}&${range}`, null)).statusCode).toBe(401);
    expect((await series(`patient_id=${patientId}&${range}`, await t.key('device'))).statusCode).toBe(403);
  });
});
