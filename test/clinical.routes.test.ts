/**
 * Clinical safety of readings end to end: timestamps ahead of the server's clock, inverted
 * blood-pressure pairs, glucose classified at whole mg/dL, and attention for stale findings,
 * through the single upsert, the bulk endpoint (JSON and CSV) and the summary.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../src/db/database.js';
import { GLUCOSE_MGDL_PER_MMOLL } from '../src/domain/readings.js';
import { REFERENCE_HEADER } from '../src/modules/ingest/ingest.csv.js';
import { createTestApp, type TestApp, uniqueEmail } from './helpers/app.js';
import { expectValidation } from './helpers/problem.js';

const NOW = new Date('2025-06-15T12:00:00.000Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const iso = (msFromNow: number) => new Date(NOW.getTime() + msFromNow).toISOString();
const AHEAD_MESSAGE = "must not be more than 24 hours after the server's clock (no offset means UTC)";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ now: () => NOW });
});
afterAll(async () => {
  await t?.close();
});

async function newPatient(): Promise<{ id: number; email: string }> {
  const res = await t.call(t.adminKey, {
    method: 'POST',
    url: '/api/v1/patients',
    payload: { name: 'Clinical Tester', dob: '1960-01-01', gender: 'other', email: uniqueEmail('clin') },
  });
  expect(res.statusCode).toBe(201);
  return res.json();
}

function upsert(payload: object) {
  return t.call(t.adminKey, { method: 'POST', url: '/api/v1/biometrics', payload });
}

function bulk(payload: unknown, contentType = 'application/json') {
  return t.call(t.adminKey, {
    method: 'POST',
    url: '/api/v1/biometrics/bulk',
    headers: { 'content-type': contentType },
    payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });
}

function summary(id: number) {
  return t.call(t.adminKey, { method: 'GET', url: `/api/v1/patients/${id}/summary` });
}

async function stored(patientId: number): Promise<{ type: string; value: number; ts: string }[]> {
  const rows = await queryRows<{ type: string; value: number; ts: string }>(
    t.database.db,
    sql`select type, value, to_char(timestamp at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS') as ts
        from biometrics where patient_id = ${patientId} order by timestamp, type`,
  );
  return rows.map((r) => ({ ...r, value: Number(r.value) }));
}

async function buffered(patientId: number): Promise<number> {
  const [row] = await queryRows<{ n: number }>(
    t.database.db,
    sql`select count(*)::int as n from biometrics_hourly where patient_id = ${patientId}`,
  );
  return Number(row?.n);
}

/** Stores a reading directly, as data loaded before today's checks could be. */
async function legacy(patientId: number, type: string, value: number, timestamp: string): Promise<void> {
  await queryRows(
    t.database.db,
    sql`insert into biometrics (patient_id, type, value, unit, timestamp)
        values (${patientId}, ${type}, ${value}, ${type === 'glucose' ? 'mg/dL' : 'mmHg'}, ${timestamp}::timestamptz)`,
  );
}

const ts = (isoText: string) => isoText.slice(0, 23);

describe('timestamps ahead of the server clock', () => {
  it('the single upsert accepts up to 24 hours ahead and rejects beyond, storing nothing', async () => {
    const p = await newPatient();
    const ok = await upsert({ patient_id: p.id, timestamp: iso(DAY), type: 'glucose', value: 40 });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({
      id: expect.any(Number),
      patient_id: p.id,
      timestamp: iso(DAY),
      type: 'glucose',
      value: 40,
      unit: 'mg/dL',
    });
    for (const timestamp of [iso(DAY + 1), '2199-12-31T23:59:59Z', '2025-06-16T12:00:00.001']) {
      const res = await upsert({ patient_id: p.id, timestamp, type: 'glucose', value: 41 });
      expectValidation(res, '/api/v1/biometrics', [{ field: 'body.timestamp', message: AHEAD_MESSAGE }]);
    }
    expect(await stored(p.id)).toEqual([{ type: 'glucose', value: 40, ts: ts(iso(DAY)) }]);
  });

  it('a reading stamped ahead is the latest in the summary and counts in time in range', async () => {
    const p = await newPatient();
    await upsert({ patient_id: p.id, timestamp: iso(-HOUR), type: 'glucose', value: 120 });
    // Local time (UTC+10) sent without an offset: ten hours ahead.
    await upsert({ patient_id: p.id, timestamp: ts(iso(10 * HOUR)), type: 'glucose', value: 45 });
    const res = await summary(p.id);
    expect(res.statusCode).toBe(200);
    expect(res.json().latest.glucose).toEqual({
      id: expect.any(Number),
      value: 45,
      unit: 'mg/dL',
      timestamp: iso(10 * HOUR),
      status: 'very_low',
    });
    expect(res.json().time_in_range).toEqual({
      from: iso(-14 * DAY),
      to: iso(DAY),
      readings: 2,
      in_range: 1,
      below: 1,
      above: 0,
      in_range_pct: 50,
      below_pct: 50,
      above_pct: 0,
    });
    expect(res.json().attention.reasons.map((r: { code: string }) => r.code)).toEqual(['glucose_very_low']);
  });

  it('the bulk endpoint rejects a JSON item or a CSV row stamped too far ahead, alone', async () => {
    const p = await newPatient();
    const json = await bulk([
      { patient_id: p.id, timestamp: iso(DAY + 1000), type: 'glucose', value: 50 },
      { patient_id: p.id, timestamp: iso(-HOUR), type: 'glucose', value: 100 },
    ]);
    expect(json.statusCode).toBe(200);
    expect(json.json()).toEqual({
      summary: { received: 2, inserted: 1, updated: 0, unchanged: 0, duplicate: 0, rejected: 1 },
      results: [
        { index: 0, status: 'rejected', reason: 'bad_timestamp', message: `body.0.timestamp ${AHEAD_MESSAGE}` },
        { index: 1, status: 'inserted' },
      ],
    });
    const csv = await bulk(
      [REFERENCE_HEADER, `${p.email},2030-01-01T00:00:00,60,,,`, `${p.email},${ts(iso(-2 * HOUR))},110,,,`].join('\n'),
      'text/csv',
    );
    expect(csv.statusCode).toBe(200);
    expect(csv.json()).toEqual({
      summary: { received: 2, inserted: 1, updated: 0, unchanged: 0, duplicate: 0, rejected: 1 },
      results: [
        {
          line: 2,
          column: 'timestamp',
          status: 'rejected',
          reason: 'bad_timestamp',
          message: `timestamp ${AHEAD_MESSAGE}`,
        },
        { line: 3, column: 'glucose_mg_dL', status: 'inserted' },
      ],
    });
    expect(await stored(p.id)).toEqual([
      { type: 'glucose', value: 110, ts: ts(iso(-2 * HOUR)) },
      { type: 'glucose', value: 100, ts: ts(iso(-HOUR)) },
    ]);
  });
});

describe('inverted blood-pressure pairs', () => {
  it('the single upsert refuses a value that inverts the stored pair, and stores nothing', async () => {
    const p = await newPatient();
    const at = iso(-HOUR);
    expect((await upsert({ patient_id: p.id, timestamp: at, type: 'systolic', value: 120 })).statusCode).toBe(200);
    const before = await buffered(p.id);
    const dia = await upsert({ patient_id: p.id, timestamp: at, type: 'diastolic', value: 120 });
    expectValidation(dia, '/api/v1/biometrics', [
      {
        field: 'body.value',
        message: 'diastolic must be below the systolic stored for this patient and time (120 mmHg)',
      },
    ]);
    expect((await upsert({ patient_id: p.id, timestamp: at, type: 'diastolic', value: 80 })).statusCode).toBe(200);
    // Updating the systolic below the stored diastolic is refused too; the stored value stays.
    const sys = await upsert({ patient_id: p.id, timestamp: at, type: 'systolic', value: 75 });
    expectValidation(sys, '/api/v1/biometrics', [
      {
        field: 'body.value',
        message: 'systolic must be above the diastolic stored for this patient and time (80 mmHg)',
      },
    ]);
    const same = await upsert({ patient_id: p.id, timestamp: at, type: 'systolic', value: 120 });
    expect(same.statusCode).toBe(200);
    expect(same.json()).toEqual({
      id: expect.any(Number),
      patient_id: p.id,
      timestamp: at,
      type: 'systolic',
      value: 120,
      unit: 'mmHg',
    });
    expect(await stored(p.id)).toEqual([
      { type: 'diastolic', value: 80, ts: ts(at) },
      { type: 'systolic', value: 120, ts: ts(at) },
    ]);
    // One buffer row for the accepted diastolic only.
    expect(await buffered(p.id)).toBe(before + 1);
  });

  it('the bulk JSON body rejects inverted pairs within the request and against stored partners', async () => {
    const p = await newPatient();
    const a = iso(-3 * HOUR);
    const b = iso(-2 * HOUR);
    const c = iso(-HOUR);
    await upsert({ patient_id: p.id, timestamp: b, type: 'diastolic', value: 95 });
    const res = await bulk([
      { patient_id: p.id, timestamp: a, type: 'systolic', value: 80 },
      { patient_id: p.id, timestamp: a, type: 'diastolic', value: 120 },
      { patient_id: p.id, timestamp: a, type: 'glucose', value: 100 },
      { patient_id: p.id, timestamp: b, type: 'systolic', value: 90 },
      { patient_id: p.id, timestamp: c, type: 'systolic', value: 130 },
      { patient_id: p.id, timestamp: c, type: 'diastolic', value: 85 },
    ]);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      summary: { received: 6, inserted: 3, updated: 0, unchanged: 0, duplicate: 0, rejected: 3 },
      results: [
        {
          index: 0,
          status: 'rejected',
          reason: 'implausible_bp',
          message:
            'body.0.value systolic 80 mmHg is not above diastolic 120 mmHg (item 1 for this patient and time; fields swapped?)',
        },
        {
          index: 1,
          status: 'rejected',
          reason: 'implausible_bp',
          message:
            'body.1.value systolic 80 mmHg is not above diastolic 120 mmHg (item 0 for this patient and time; fields swapped?)',
        },
        { index: 2, status: 'inserted' },
        {
          index: 3,
          status: 'rejected',
          reason: 'implausible_bp',
          message:
            'body.3.value systolic 90 mmHg is not above diastolic 95 mmHg (the stored reading for this patient and time; fields swapped?)',
        },
        { index: 4, status: 'inserted' },
        { index: 5, status: 'inserted' },
      ],
    });
    expect(await stored(p.id)).toEqual([
      { type: 'glucose', value: 100, ts: ts(a) },
      { type: 'diastolic', value: 95, ts: ts(b) },
      { type: 'diastolic', value: 85, ts: ts(c) },
      { type: 'systolic', value: 130, ts: ts(c) },
    ]);
  });

  it('a CSV row with systolic not above diastolic rejects both cells and keeps the rest of the row', async () => {
    const p = await newPatient();
    const at = ts(iso(-HOUR)).slice(0, 19);
    const res = await bulk([REFERENCE_HEADER, `${p.email},${at},101,80,120,70.5`].join('\n'), 'text/csv');
    expect(res.statusCode).toBe(200);
    const detail = 'systolic 80 mmHg is not above diastolic 120 mmHg (columns swapped?)';
    expect(res.json()).toEqual({
      summary: { received: 1, inserted: 2, updated: 0, unchanged: 0, duplicate: 0, rejected: 2 },
      results: [
        { line: 2, column: 'glucose_mg_dL', status: 'inserted' },
        { line: 2, column: 'bp_systolic', status: 'rejected', reason: 'implausible_bp', message: detail },
        { line: 2, column: 'bp_diastolic', status: 'rejected', reason: 'implausible_bp', message: detail },
        { line: 2, column: 'weight_kg', status: 'inserted' },
      ],
    });
    expect(await stored(p.id)).toEqual([
      { type: 'glucose', value: 101, ts: ts(iso(-HOUR)) },
      { type: 'weight', value: 70.5, ts: ts(iso(-HOUR)) },
    ]);
  });

  it('the summary shows a stored inverted pair as implausible, with a data-quality reason, not a crisis', async () => {
    const p = await newPatient();
    await legacy(p.id, 'systolic', 80, iso(-HOUR));
    await legacy(p.id, 'diastolic', 130, iso(-HOUR));
    const res = await summary(p.id);
    expect(res.statusCode).toBe(200);
    expect(res.json().blood_pressure).toEqual({
      systolic: 80,
      diastolic: 130,
      timestamp: iso(-HOUR),
      category: 'implausible',
    });
    expect(res.json().attention).toEqual({
      score: 5,
      reasons: [
        {
          code: 'bp_implausible',
          message: 'Blood pressure pair with diastolic at or above systolic; check the device',
          points: 5,
        },
      ],
    });
  });
});

describe('glucose classified at whole mg/dL', () => {
  const cases: [string, number, string | undefined, string][] = [
    ['2.9 mmol/L', 2.9, 'mmol/L', 'very_low'],
    ['3.0 mmol/L', 3.0, 'mmol/L', 'low'],
    ['3.9 mmol/L', 3.9, 'mmol/L', 'in_range'],
    ['10.0 mmol/L', 10.0, 'mmol/L', 'in_range'],
    ['10.1 mmol/L', 10.1, 'mmol/L', 'high'],
    ['13.9 mmol/L', 13.9, 'mmol/L', 'high'],
    ['14.0 mmol/L', 14.0, 'mmol/L', 'very_high'],
    ['69.4 mg/dL', 69.4, undefined, 'low'],
    ['69.5 mg/dL', 69.5, undefined, 'in_range'],
    ['180.4 mg/dL', 180.4, undefined, 'in_range'],
    ['180.5 mg/dL', 180.5, undefined, 'high'],
    ['250.4 mg/dL', 250.4, undefined, 'high'],
    ['250.5 mg/dL', 250.5, undefined, 'very_high'],
  ];

  it.each(cases)('%s is %s as latest and in the time-in-range counts', async (_, value, unit, status) => {
    const p = await newPatient();
    const res = await upsert({
      patient_id: p.id,
      timestamp: iso(-HOUR),
      type: 'glucose',
      value,
      ...(unit && { unit }),
    });
    expect(res.statusCode).toBe(200);
    const mgdl = unit ? value * GLUCOSE_MGDL_PER_MMOLL : value;
    const s = await summary(p.id);
    expect(s.statusCode).toBe(200);
    expect(s.json().latest.glucose).toEqual({
      id: res.json().id,
      value: mgdl,
      unit: 'mg/dL',
      timestamp: iso(-HOUR),
      status,
    });
    const inRange = status === 'in_range' ? 1 : 0;
    const below = status === 'low' || status === 'very_low' ? 1 : 0;
    expect(s.json().time_in_range).toMatchObject({ readings: 1, in_range: inRange, below, above: 1 - inRange - below });
  });
});

describe('attention for old findings', () => {
  it('a latest low glucose or crisis pair from before the window adds no points, and is still shown', async () => {
    const p = await newPatient();
    const old = iso(-20 * DAY);
    await upsert({ patient_id: p.id, timestamp: old, type: 'glucose', value: 40 });
    await upsert({ patient_id: p.id, timestamp: old, type: 'systolic', value: 200 });
    await upsert({ patient_id: p.id, timestamp: old, type: 'diastolic', value: 125 });
    const res = await summary(p.id);
    expect(res.statusCode).toBe(200);
    expect(res.json().latest.glucose).toMatchObject({ value: 40, timestamp: old, status: 'very_low' });
    expect(res.json().blood_pressure).toEqual({ systolic: 200, diastolic: 125, timestamp: old, category: 'crisis' });
    expect(res.json().attention).toEqual({ score: 0, reasons: [] });
  });
});
