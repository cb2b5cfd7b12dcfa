import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../src/db/database.js';
import { REFERENCE_HEADER } from '../src/modules/ingest/ingest.csv.js';
import { createTestApp, type TestApp, uniqueEmail } from './helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: { BULK_MAX_ITEMS: '20000', BULK_BODY_LIMIT_BYTES: '4000000' } });
});
afterAll(async () => {
  await t?.close();
});

async function createPatient(): Promise<{ id: number; email: string }> {
  const res = await t.call(t.adminKey, {
    method: 'POST',
    url: '/api/v1/patients',
    payload: { name: 'Bulk Test', dob: '1970-01-01', gender: 'other', email: uniqueEmail('bulk') },
  });
  expect(res.statusCode).toBe(201);
  return res.json();
}

function bulk(key: string | null, payload: unknown, contentType = 'application/json') {
  return t.call(key, {
    method: 'POST',
    url: '/api/v1/biometrics/bulk',
    headers: { 'content-type': contentType },
    payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });
}

async function stored(patientId: number) {
  const rows = await queryRows<{ type: string; value: number; unit: string; ts: string }>(
    t.database.db,
    sql`select type, value, unit, to_char(timestamp at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') as ts
        from biometrics where patient_id = ${patientId} order by timestamp, type`,
  );
  return rows.map((r) => ({ ...r, value: Number(r.value) }));
}

async function bufferCount(patientId: number): Promise<number> {
  const [row] = await queryRows<{ n: number }>(
    t.database.db,
    sql`select count(*)::int as n from biometrics_hourly where patient_id = ${patientId}`,
  );
  return Number(row?.n);
}

describe('POST /api/v1/biometrics/bulk (JSON)', () => {
  it('stores valid items and rejects bad ones individually, with one result per item', async () => {
    const p = await createPatient();
    const items = [
      { patient_id: p.id, timestamp: '2025-05-24T08:00:00Z', type: 'glucose', value: 98 },
      { patient_id: p.id, timestamp: '2025-05-24T08:00:00Z', type: 'weight', value: 154, unit: 'lb' },
      { patient_id: p.id, timestamp: '2025-05-24T08:00:00Z', type: 'glucose', value: 98 },
      { patient_id: p.id, timestamp: '2025-05-24T08:00:00Z', type: 'glucose', value: 99 },
      { patient_id: p.id, timestamp: '2025-02-30T08:00:00Z', type: 'glucose', value: 98 },
      { patient_id: p.id, timestamp: '2025-05-24T09:00:00Z', type: 'glucose', value: 5000 },
      { patient_id: p.id, timestamp: '2025-05-24T09:00:00Z', type: 'glucose', value: 5, unit: 'kg' },
      { patient_id: p.id, timestamp: '2025-05-24T09:00:00Z', type: 'pulse', value: 60 },
      { patient_id: 2147483000, timestamp: '2025-05-24T09:00:00Z', type: 'glucose', value: 98 },
      'not an object',
      { patient_id: p.id, timestamp: '2025-05-24T09:00:00Z', type: 'glucose', value: '98' },
      { patient_id: p.id, timestamp: '2025-05-24T09:00:00Z', type: 'glucose', value: 98, extra: 1 },
    ];
    const res = await bulk(t.adminKey, items);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      summary: { received: 12, inserted: 2, updated: 0, unchanged: 0, duplicate: 1, rejected: 9 },
      results: [
        { index: 0, status: 'inserted' },
        { index: 1, status: 'inserted' },
        { index: 2, status: 'duplicate' },
        {
          index: 3,
          status: 'rejected',
          reason: 'conflicting_duplicate',
          message: 'item 0 already gave another value for this patient, type and time',
        },
        {
          index: 4,
          status: 'rejected',
          reason: 'bad_timestamp',
          message: 'body.4.timestamp must be an ISO 8601 date-time between 1900 and 2199 (no offset means UTC)',
        },
        {
          index: 5,
          status: 'rejected',
          reason: 'impossible_value',
          message: 'body.5.value glucose must be between 10 and 1500 mg/dL',
        },
        {
          index: 6,
          status: 'rejected',
          reason: 'unknown_unit',
          message: 'body.6.unit this unit is not accepted for glucose; use mg/dL or mmol/L',
        },
        { index: 7, status: 'rejected', reason: 'invalid_item', message: expect.stringMatching(/^body\.7\.type /) },
        { index: 8, status: 'rejected', reason: 'unknown_patient', message: 'patient_id: patient not found' },
        { index: 9, status: 'rejected', reason: 'invalid_item', message: 'body.9 must be object' },
        { index: 10, status: 'rejected', reason: 'invalid_item', message: 'body.10.value must be number' },
        { index: 11, status: 'rejected', reason: 'invalid_item', message: 'body.11.extra is not an allowed property' },
      ],
    });
    expect(await stored(p.id)).toEqual([
      { type: 'glucose', value: 98, unit: 'mg/dL', ts: '2025-05-24T08:00:00' },
      { type: 'weight', value: 154 * 0.45359237, unit: 'kg', ts: '2025-05-24T08:00:00' },
    ]);
    expect(await bufferCount(p.id)).toBe(2);
  });

  it('reports unchanged and updated readings on a second request', async () => {
    const p = await createPatient();
    const items = [
      { patient_id: p.id, timestamp: '2025-06-01T08:00:00Z', type: 'systolic', value: 120 },
      { patient_id: p.id, timestamp: '2025-06-01T08:00:00Z', type: 'diastolic', value: 80 },
    ];
    expect((await bulk(t.adminKey, items)).json().summary).toMatchObject({ inserted: 2 });
    const again = await bulk(t.adminKey, [items[0], { ...items[1], value: 82 }]);
    expect(again.json()).toEqual({
      summary: { received: 2, inserted: 0, updated: 1, unchanged: 1, duplicate: 0, rejected: 0 },
      results: [
        { index: 0, status: 'unchanged' },
        { index: 1, status: 'updated' },
      ],
    });
    expect((await stored(p.id)).map((r) => r.value)).toEqual([82, 120]);
    expect(await bufferCount(p.id)).toBe(3);
  });

  it('handles 10,000 readings in one request', async () => {
    const p = await createPatient();
    const start = Date.UTC(2024, 0, 1);
    const items = Array.from({ length: 10_000 }, (_, i) => ({
      patient_id: p.id,
      timestamp: new Date(start + i * 60_000).toISOString(),
      type: 'glucose',
      value: 80 + (i % 50),
    }));
    const res = await bulk(t.adminKey, items);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.summary).toEqual({
      received: 10_000,
      inserted: 10_000,
      updated: 0,
      unchanged: 0,
      duplicate: 0,
      rejected: 0,
    });
    expect(body.results).toHaveLength(10_000);
    expect(body.results[9_999]).toEqual({ index: 9_999, status: 'inserted' });
    expect(await stored(p.id)).toHaveLength(10_000);
    // One buffer row per touched (patient, type, hour).
    expect(await bufferCount(p.id)).toBe(Math.ceil(10_000 / 60));
  });

  it('applies the key scope to every item: out-of-scope items look like unknown patients', async () => {
    const mine = await createPatient();
    const other = await createPatient();
    const key = await t.key('device', [mine.id]);
    const res = await bulk(key, [
      { patient_id: mine.id, timestamp: '2025-07-01T08:00:00Z', type: 'glucose', value: 100 },
      { patient_id: other.id, timestamp: '2025-07-01T08:00:00Z', type: 'glucose', value: 100 },
      { patient_id: 2147483001, timestamp: '2025-07-01T08:00:00Z', type: 'glucose', value: 100 },
    ]);
    expect(res.statusCode).toBe(200);
    const [, outOfScope, missing] = res.json().results;
    expect(outOfScope).toEqual({ ...missing, index: 1 });
    expect(await stored(other.id)).toEqual([]);
    expect(await stored(mine.id)).toHaveLength(1);
  });

  it('records the touched patients and counts in the audit trail', async () => {
    const p = await createPatient();
    await bulk(t.adminKey, [{ patient_id: p.id, timestamp: '2025-07-02T08:00:00Z', type: 'glucose', value: 100 }]);
    const rows = await queryRows<{ patient_ids: number[]; detail: unknown; status: number }>(
      t.database.db,
      sql`select patient_ids, detail, status from audit_events
          where route = '/api/v1/biometrics/bulk' and ${p.id} = any(patient_ids) order by id desc limit 1`,
    );
    expect(rows[0]).toEqual({
      patient_ids: [p.id],
      status: 200,
      detail: { bulk: { received: 1, inserted: 1, updated: 0, unchanged: 0, duplicate: 0, rejected: 0 } },
    });
  });

  it('refuses more items than allowed with 422 and a body larger than allowed with 413', async () => {
    const small = await createTestApp({
      env: { BULK_MAX_ITEMS: '3', BULK_BODY_LIMIT_BYTES: '2048' },
      database: t.database,
    });
    try {
      const item = { patient_id: 1, timestamp: '2025-01-01T00:00:00Z', type: 'glucose', value: 100 };
      const call = (payload: string, ct = 'application/json') =>
        small.call(small.adminKey, {
          method: 'POST',
          url: '/api/v1/biometrics/bulk',
          headers: { 'content-type': ct },
          payload,
        });
      const many = await call(JSON.stringify([item, item, item, item]));
      expect(many.statusCode).toBe(422);
      expect(many.json()).toMatchObject({ code: 'validation_failed', errors: [{ field: 'body' }] });
      const big = await call(JSON.stringify(Array.from({ length: 3 }, () => ({ ...item, pad: 'x'.repeat(1000) }))));
      expect(big.statusCode).toBe(413);
      expect(big.json()).toMatchObject({ status: 413, code: 'body_too_large' });
      const csvRows = [REFERENCE_HEADER, ...Array.from({ length: 4 }, () => 'a@b.org,2025-01-01T00:00:00,100,,,')];
      const manyRows = await call(csvRows.join('\n'), 'text/csv');
      expect(manyRows.statusCode).toBe(422);
      expect(manyRows.json().errors).toEqual([{ field: 'body', message: 'at most 3 readings per request' }]);
    } finally {
      await small.app.close();
    }
  });

  it('answers 422 for a body that is not an array, 400 for broken JSON, 415 for other types', async () => {
    expect((await bulk(t.adminKey, { items: [] })).statusCode).toBe(422);
    expect((await bulk(t.adminKey, '[{"a":')).statusCode).toBe(400);
    expect((await bulk(t.adminKey, 'x', 'text/plain')).statusCode).toBe(415);
    const empty = await bulk(t.adminKey, []);
    expect(empty.json()).toEqual({
      summary: { received: 0, inserted: 0, updated: 0, unchanged: 0, duplicate: 0, rejected: 0 },
      results: [],
    });
  });

  it('requires readings:write', async () => {
    expect((await bulk(null, [])).statusCode).toBe(401);
    const reader = await t.key('reader');
    expect((await bulk(reader, [])).statusCode).toBe(403);
  });
});

describe('POST /api/v1/biometrics/bulk (text/csv)', () => {
  it('loads the reference CSV format with per-reading results', async () => {
    const a = await createPatient();
    const b = await createPatient();
    const key = await t.key('clinician', [a.id]);
    const body = [
      REFERENCE_HEADER,
      `${a.email},2025-08-01T08:00:00,98,121,79,70.5`,
      `${a.email},2025-08-01T09:00:00,high,,,`,
      `${b.email},2025-08-01T08:00:00,98,,,`,
      `${a.email},2025-08-01T08:00:00,98,,,`,
      'broken',
    ].join('\r\n');
    const res = await bulk(key, body, 'text/csv; charset=utf-8');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      summary: { received: 5, inserted: 4, updated: 0, unchanged: 0, duplicate: 1, rejected: 3 },
      results: [
        { line: 2, column: 'glucose_mg_dL', status: 'inserted' },
        { line: 2, column: 'bp_systolic', status: 'inserted' },
        { line: 2, column: 'bp_diastolic', status: 'inserted' },
        { line: 2, column: 'weight_kg', status: 'inserted' },
        {
          line: 3,
          column: 'glucose_mg_dL',
          status: 'rejected',
          reason: 'non_numeric',
          message: 'glucose is not a number',
        },
        { line: 4, status: 'rejected', reason: 'unknown_patient', message: 'no patient with this email' },
        { line: 5, column: 'glucose_mg_dL', status: 'duplicate' },
        { line: 6, status: 'rejected', reason: 'wrong_column_count', message: 'expected 6 columns, found 1' },
      ],
    });
    expect((await stored(a.id)).map((r) => r.type)).toEqual(['diastolic', 'glucose', 'systolic', 'weight']);
    expect(await stored(b.id)).toEqual([]);
  });

  it('handles 10,000 readings in one text/csv request (2,500 rows of the reference format)', async () => {
    const p = await createPatient();
    const start = Date.UTC(2024, 1, 1);
    const lines = [REFERENCE_HEADER];
    for (let i = 0; i < 2_500; i++) {
      const ts = new Date(start + i * 60_000).toISOString().slice(0, 19);
      lines.push(
        `${p.email},${ts},${80 + (i % 50)},${110 + (i % 30)},${70 + (i % 20)},${(60 + (i % 10) / 10).toFixed(1)}`,
      );
    }
    const res = await bulk(t.adminKey, lines.join('\n'), 'text/csv');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.summary).toEqual({
      received: 2_500,
      inserted: 10_000,
      updated: 0,
      unchanged: 0,
      duplicate: 0,
      rejected: 0,
    });
    expect(body.results).toHaveLength(10_000);
    expect(body.results[9_999]).toEqual({ line: 2_501, column: 'weight_kg', status: 'inserted' });
    expect(await stored(p.id)).toHaveLength(10_000);
    // Four types, one buffer row per touched (patient, type, hour).
    expect(await bufferCount(p.id)).toBe(4 * Math.ceil(2_500 / 60));
  });

  it('answers 422 naming the problems of an unusable header', async () => {
    const res = await bulk(t.adminKey, 'patient_email,timestamp,pulse\na@b.org,2025-01-01T00:00:00,60\n', 'text/csv');
    expect(res.statusCode).toBe(422);
    expect(res.json().errors[0]).toEqual({ field: 'body', message: 'unknown column "pulse"' });
  });

  it('answers 422 for a quote that is never closed, at the line where its record starts', async () => {
    const p = await createPatient();
    const body = `${REFERENCE_HEADER}\n${p.email},2025-01-01T00:00:00,90,,,\n${p.email},"2025-01-01T01:00:00,91,,,\n`;
    const res = await bulk(t.adminKey, body, 'text/csv');
    expect(res.statusCode).toBe(422);
    expect(res.json().errors).toEqual([
      { field: 'body', message: 'line 3: a quote in the record starting here is never closed' },
    ]);
    expect(await bufferCount(p.id)).toBe(0);
  });
});

describe('POST /api/v1/biometrics/bulk: metrics', () => {
  async function counters(): Promise<{ ingested: number; rejected: number }> {
    const res = await t.call(t.adminKey, { method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(res.body)?.[1]);
    return {
      ingested: value('patientpulse_readings_ingested_total'),
      rejected: value('patientpulse_loader_rejected_rows_total'),
    };
  }

  it('counts stored readings and rejected items of JSON and CSV requests', async () => {
    const p = await createPatient();
    const before = await counters();
    await bulk(t.adminKey, [
      { patient_id: p.id, timestamp: '2025-09-01T08:00:00Z', type: 'glucose', value: 100 },
      { patient_id: p.id, timestamp: '2025-09-01T08:00:00Z', type: 'weight', value: 70 },
      { patient_id: p.id, timestamp: '2025-09-01T09:00:00Z', type: 'glucose', value: 5000 },
    ]);
    const afterJson = await counters();
    expect(afterJson).toEqual({ ingested: before.ingested + 2, rejected: before.rejected + 1 });
    const csv = [
      REFERENCE_HEADER,
      `${p.email},2025-09-02T08:00:00,98,120,80,`,
      'broken',
      `nobody@example.org,2025-09-02T08:00:00,98,,,`,
    ];
    await bulk(t.adminKey, csv.join('\n'), 'text/csv');
    expect(await counters()).toEqual({ ingested: afterJson.ingested + 3, rejected: afterJson.rejected + 2 });
  });
});
