import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFECT_KINDS, generateDataset, generatePatients } from '../scripts/gen-data.js';
import { type Database, queryRows } from '../src/db/database.js';
import { GLUCOSE_MGDL_PER_MMOLL, KG_PER_LB } from '../src/domain/readings.js';
import { CsvRecordError, HeaderError, REFERENCE_HEADER } from '../src/modules/ingest/ingest.csv.js';
import type { Reject, RejectSink } from '../src/modules/ingest/ingest.report.js';
import {
  type IngestDeps,
  LoadStoppedError,
  loadPatients,
  loadReadings,
  newestTimestamp,
} from '../src/modules/ingest/ingest.service.js';
import { uniqueEmail } from './helpers/app.js';
import { createTestDatabase } from './helpers/database.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/ingest-dirty/', import.meta.url));
const NOW = new Date('2026-02-01T00:00:00Z');
const silent = { info() {}, warn() {} };

let database: Database;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

function deps(extra: Partial<IngestDeps> = {}): IngestDeps {
  return { database, log: silent, now: () => NOW, ...extra };
}

class MemorySink implements RejectSink {
  readonly rejects: Reject[] = [];
  write(rejects: readonly Reject[]): void {
    this.rejects.push(...rejects);
  }
}

const csv = (...lines: string[]) => Readable.from([`${lines.join('\n')}\n`]);

/** Creates patients through the loader; returns their emails and ids. */
async function patients(n: number): Promise<{ emails: string[]; ids: number[] }> {
  const emails = Array.from({ length: n }, () => uniqueEmail('etl'));
  const json = JSON.stringify(
    emails.map((email, i) => ({ name: `P ${i}`, dob: '1970-01-01', gender: 'other', email })),
  );
  const { report } = await loadPatients(deps(), json);
  expect(report.inserted).toBe(n);
  const rows = await queryRows<{ id: number; email: string }>(
    database.db,
    sql`select id, email from patients where email = any(${sql.param(emails)}::text[])`,
  );
  const byEmail = new Map(rows.map((r) => [r.email, Number(r.id)]));
  return { emails, ids: emails.map((e) => byEmail.get(e) as number) };
}

interface StoredReading {
  patient_id: number;
  type: string;
  value: number;
  unit: string;
  ts: string;
}

async function readingsOf(ids: number[]): Promise<StoredReading[]> {
  const rows = await queryRows<StoredReading>(
    database.db,
    sql`select patient_id, type, value, unit, to_char(timestamp at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') as ts
        from biometrics where patient_id = any(${sql.param(ids)}::int[])
        order by patient_id, timestamp, type`,
  );
  return rows.map((r) => ({ ...r, patient_id: Number(r.patient_id), value: Number(r.value) }));
}

async function bufferOf(ids: number[]): Promise<{ id: number; patient_id: number; type: string; bucket: string }[]> {
  const rows = await queryRows<{ id: number; patient_id: number; type: string; bucket: string }>(
    database.db,
    sql`select id, patient_id, type, to_char(bucket_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24') as bucket
        from biometrics_hourly where patient_id = any(${sql.param(ids)}::int[]) order by id`,
  );
  return rows.map((r) => ({ ...r, id: Number(r.id), patient_id: Number(r.patient_id) }));
}

/** Every stored reading's (patient, type, hour) is in the change buffer. */
async function readingsMissingFromBuffer(ids: number[]): Promise<number> {
  const [row] = await queryRows<{ n: number }>(
    database.db,
    sql`select count(*)::int as n from biometrics b
        where b.patient_id = any(${sql.param(ids)}::int[])
          and not exists (select 1 from biometrics_hourly h where h.patient_id = b.patient_id and h.type = b.type
                          and h.bucket_start = date_trunc('hour', b.timestamp, 'UTC'))`,
  );
  return Number(row?.n);
}

describe('loadReadings: the reference format', () => {
  it('maps every column of the reference header, blood pressure included', async () => {
    const { emails, ids } = await patients(2);
    const report = await loadReadings(
      deps(),
      csv(
        REFERENCE_HEADER,
        `${emails[0]},2025-05-24T08:00:00,98,121,79,70.5`,
        `${emails[1]},2025-05-24T08:30:00Z,,135,85,`,
        `${emails[0]},2025-05-24T09:15:00,110,,,`,
      ),
    );
    expect(report).toEqual({
      rows: { read: 3, loaded: 3, duplicate: 0, rejected: 0, rejectedByReason: {} },
      readings: { inserted: 7, updated: 0, unchanged: 0, duplicate: 0, rejected: 0, rejectedByReason: {} },
      bucketsTouched: 7,
      batches: 1,
    });
    const [a, b] = ids;
    expect(await readingsOf(ids)).toEqual([
      { patient_id: a, type: 'diastolic', value: 79, unit: 'mmHg', ts: '2025-05-24T08:00:00' },
      { patient_id: a, type: 'glucose', value: 98, unit: 'mg/dL', ts: '2025-05-24T08:00:00' },
      { patient_id: a, type: 'systolic', value: 121, unit: 'mmHg', ts: '2025-05-24T08:00:00' },
      { patient_id: a, type: 'weight', value: 70.5, unit: 'kg', ts: '2025-05-24T08:00:00' },
      { patient_id: a, type: 'glucose', value: 110, unit: 'mg/dL', ts: '2025-05-24T09:15:00' },
      { patient_id: b, type: 'diastolic', value: 85, unit: 'mmHg', ts: '2025-05-24T08:30:00' },
      { patient_id: b, type: 'systolic', value: 135, unit: 'mmHg', ts: '2025-05-24T08:30:00' },
    ]);
    expect((await bufferOf(ids)).map(({ patient_id, type, bucket }) => ({ patient_id, type, bucket }))).toEqual(
      expect.arrayContaining([
        { patient_id: a, type: 'glucose', bucket: '2025-05-24T08' },
        { patient_id: a, type: 'glucose', bucket: '2025-05-24T09' },
        { patient_id: b, type: 'systolic', bucket: '2025-05-24T08' },
      ]),
    );
    expect(await readingsMissingFromBuffer(ids)).toBe(0);
  });

  it('loads columns in another order and unit variants, stored in canonical units', async () => {
    const { emails, ids } = await patients(1);
    const report = await loadReadings(
      deps(),
      csv('weight_lb,Timestamp,glucose_mmol_L,Email', `154,2025-06-01T07:00:00,5.5,${emails[0]?.toUpperCase()}`),
    );
    expect(report.readings.inserted).toBe(2);
    expect(await readingsOf(ids)).toEqual([
      {
        patient_id: ids[0],
        type: 'glucose',
        value: 5.5 * GLUCOSE_MGDL_PER_MMOLL,
        unit: 'mg/dL',
        ts: '2025-06-01T07:00:00',
      },
      { patient_id: ids[0], type: 'weight', value: 154 * KG_PER_LB, unit: 'kg', ts: '2025-06-01T07:00:00' },
    ]);
  });

  it('refuses a file whose header it cannot map, loading nothing', async () => {
    const { emails, ids } = await patients(1);
    await expect(
      loadReadings(deps(), csv('patient_email,timestamp,pulse', `${emails[0]},2025-01-01T00:00:00,70`)),
    ).rejects.toThrow(HeaderError);
    await expect(loadReadings(deps(), csv(''))).rejects.toThrow('the file is empty');
    expect(await readingsOf(ids)).toEqual([]);
  });
});

describe('loadReadings: idempotency, updates and the change buffer', () => {
  it('loads the same file twice: the second run changes nothing and says so', async () => {
    const { emails, ids } = await patients(3);
    const lines = [REFERENCE_HEADER];
    for (let h = 0; h < 10; h++) {
      for (const e of emails) lines.push(`${e},2025-03-01T${String(h).padStart(2, '0')}:10:00,${100 + h},120,80,`);
    }
    const first = await loadReadings(deps(), csv(...lines), { batchSize: 7 });
    expect(first.readings).toMatchObject({ inserted: 90, updated: 0, unchanged: 0, duplicate: 0, rejected: 0 });
    const storedAfterFirst = await readingsOf(ids);
    const bufferAfterFirst = await bufferOf(ids);
    expect(bufferAfterFirst).toHaveLength(90);

    const second = await loadReadings(deps(), csv(...lines), { batchSize: 7 });
    expect(second).toEqual({
      rows: { read: 30, loaded: 30, duplicate: 0, rejected: 0, rejectedByReason: {} },
      readings: { inserted: 0, updated: 0, unchanged: 90, duplicate: 0, rejected: 0, rejectedByReason: {} },
      bucketsTouched: 0,
      batches: 5,
    });
    expect(await readingsOf(ids)).toEqual(storedAfterFirst);
    expect(await bufferOf(ids)).toEqual(bufferAfterFirst);
  });

  it('a corrected file updates exactly the changed values and buffers their buckets', async () => {
    const { emails, ids } = await patients(2);
    const [e0, e1] = emails;
    const original = [
      REFERENCE_HEADER,
      `${e0},2025-04-01T08:00:00,100,120,80,70.0`,
      `${e1},2025-04-01T08:05:00,140,,,`,
      `${e0},2025-04-01T12:00:00,160,,,`,
    ];
    await loadReadings(deps(), csv(...original));
    const before = await bufferOf(ids);
    const corrected = [
      REFERENCE_HEADER,
      `${e0},2025-04-01T08:00:00,100,122,80,70.0`,
      `${e1},2025-04-01T08:05:00,140,,,`,
      `${e0},2025-04-01T12:00:00,165,,,`,
    ];
    const report = await loadReadings(deps(), csv(...corrected));
    expect(report.readings).toEqual({
      inserted: 0,
      updated: 2,
      unchanged: 4,
      duplicate: 0,
      rejected: 0,
      rejectedByReason: {},
    });
    const stored = await readingsOf(ids);
    expect(stored.find((r) => r.type === 'systolic')?.value).toBe(122);
    expect(stored.find((r) => r.ts === '2025-04-01T12:00:00')?.value).toBe(165);
    const after = await bufferOf(ids);
    const maxBefore = Math.max(...before.map((b) => b.id));
    expect(
      after.filter((b) => b.id > maxBefore).map(({ patient_id, type, bucket }) => ({ patient_id, type, bucket })),
    ).toEqual(
      expect.arrayContaining([
        { patient_id: ids[0], type: 'systolic', bucket: '2025-04-01T08' },
        { patient_id: ids[0], type: 'glucose', bucket: '2025-04-01T12' },
      ]),
    );
    expect(after.length - before.length).toBe(2);
  });
});

describe('loadReadings: rejections and duplicates', () => {
  it('accounts for every row and reading, and the counts add up', async () => {
    const { emails, ids } = await patients(2);
    const [a, b] = emails;
    const sink = new MemorySink();
    const lines = [
      REFERENCE_HEADER, //                                       line 1
      `${a},2025-07-01T08:00:00,100,120,80,70.0`, //             2: 4 inserted
      `${a},2025-07-01T08:00:00,100,120,80,70.0`, //             3: duplicate row (same batch)
      `${b},2025-07-01T09:00:00,high,121,81,`, //                4: non_numeric glucose, 2 inserted
      `nobody.${a},2025-07-01T09:00:00,100,,,`, //               5: unknown patient
      `${b}`, //                                                 6: wrong column count
      `not-an-email,2025-07-01T09:00:00,100,,,`, //              7: bad email
      `${b},2025-02-30T09:00:00,100,,,`, //                      8: bad timestamp
      '', //                                                     9: blank line, not a row
      `${b},2025-07-01T10:00:00,5000,,,999`, //                  10: 2 impossible values
      `${a},2025-07-01T08:00:00,101,,,`, //                      11: conflicting duplicate of line 2 (batch 3)
      `${a},2025-07-01T08:00:00,,120,80,`, //                    12: duplicate row of line 2 (batch 3)
      `${b},2025-07-01T11:00:00,,,,`, //                         13: no readings, loaded
      `${b},"2025-07-01T12:00:00","9""8",,,`, //                 14: quoted fields; non_numeric
    ];
    const report = await loadReadings(deps(), csv(...lines), { batchSize: 4, rejects: sink });
    expect(report).toEqual({
      rows: {
        read: 12,
        loaded: 6,
        duplicate: 2,
        rejected: 4,
        rejectedByReason: { unknown_patient: 1, wrong_column_count: 1, bad_email: 1, bad_timestamp: 1 },
      },
      readings: {
        inserted: 6,
        updated: 0,
        unchanged: 0,
        duplicate: 6,
        rejected: 5,
        rejectedByReason: { non_numeric: 2, impossible_value: 2, conflicting_duplicate: 1 },
      },
      bucketsTouched: 6,
      batches: 3,
    });
    const r = report;
    expect(r.rows.loaded + r.rows.duplicate + r.rows.rejected).toBe(r.rows.read);
    const cells = 4 + 4 + 3 + 2 + 1 + 2 + 1;
    const { inserted, updated, unchanged, duplicate, rejected } = r.readings;
    expect(inserted + updated + unchanged + duplicate + rejected).toBe(cells);
    expect(sink.rejects.map((x) => [x.line, x.column, x.reason])).toEqual([
      [4, 'glucose_mg_dL', 'non_numeric'],
      [5, '', 'unknown_patient'],
      [6, '', 'wrong_column_count'],
      [7, 'patient_email', 'bad_email'],
      [8, 'timestamp', 'bad_timestamp'],
      [10, 'glucose_mg_dL', 'impossible_value'],
      [10, 'weight_kg', 'impossible_value'],
      [11, 'glucose_mg_dL', 'conflicting_duplicate'],
      [14, 'glucose_mg_dL', 'non_numeric'],
    ]);
    expect(sink.rejects[7]).toEqual({
      source: 'readings',
      line: 11,
      column: 'glucose_mg_dL',
      reason: 'conflicting_duplicate',
      detail: 'line 2 already gave another glucose value for this patient and time',
      original: `${a},2025-07-01T08:00:00,101,,,`,
    });
    expect(sink.rejects[8]?.original).toBe(`${b},2025-07-01T12:00:00,"9""8",,,`);
    // The first value wins and stays.
    const stored = await readingsOf(ids);
    expect(stored.filter((s) => s.type === 'glucose')).toEqual([
      { patient_id: ids[0], type: 'glucose', value: 100, unit: 'mg/dL', ts: '2025-07-01T08:00:00' },
    ]);
    expect(stored).toHaveLength(6);
    expect(await readingsMissingFromBuffer(ids)).toBe(0);
  });

  it('rejects rows stamped more than 24 hours after the clock, and both cells of an inverted pair', async () => {
    const { emails, ids } = await patients(1);
    const [a] = emails;
    const sink = new MemorySink();
    const lines = [
      REFERENCE_HEADER,
      `${a},2026-02-02T00:00:00,100,120,80,`, //    2: exactly 24 h ahead of NOW: loaded
      `${a},2026-02-02T00:00:01,100,,,`, //         3: one second more: rejected
      `${a},2199-01-01T00:00:00,45,,,`, //          4: a clock wrong by years
      `${a},2026-01-31T08:00:00,95,80,120,71.5`, // 5: swapped blood pressure; glucose and weight load
    ];
    const report = await loadReadings(deps(), csv(...lines), { rejects: sink });
    expect(report).toEqual({
      rows: { read: 4, loaded: 2, duplicate: 0, rejected: 2, rejectedByReason: { bad_timestamp: 2 } },
      readings: {
        inserted: 5,
        updated: 0,
        unchanged: 0,
        duplicate: 0,
        rejected: 2,
        rejectedByReason: { implausible_bp: 2 },
      },
      bucketsTouched: 5,
      batches: 1,
    });
    const ahead = "timestamp must not be more than 24 hours after the server's clock (no offset means UTC)";
    const swapped = 'systolic 80 mmHg is not above diastolic 120 mmHg (columns swapped?)';
    expect(sink.rejects).toEqual([
      { source: 'readings', line: 3, column: 'timestamp', reason: 'bad_timestamp', detail: ahead, original: lines[2] },
      { source: 'readings', line: 4, column: 'timestamp', reason: 'bad_timestamp', detail: ahead, original: lines[3] },
      {
        source: 'readings',
        line: 5,
        column: 'bp_systolic',
        reason: 'implausible_bp',
        detail: swapped,
        original: lines[4],
      },
      {
        source: 'readings',
        line: 5,
        column: 'bp_diastolic',
        reason: 'implausible_bp',
        detail: swapped,
        original: lines[4],
      },
    ]);
    expect(await readingsOf(ids)).toEqual([
      { patient_id: ids[0], type: 'glucose', value: 95, unit: 'mg/dL', ts: '2026-01-31T08:00:00' },
      { patient_id: ids[0], type: 'weight', value: 71.5, unit: 'kg', ts: '2026-01-31T08:00:00' },
      { patient_id: ids[0], type: 'diastolic', value: 80, unit: 'mmHg', ts: '2026-02-02T00:00:00' },
      { patient_id: ids[0], type: 'glucose', value: 100, unit: 'mg/dL', ts: '2026-02-02T00:00:00' },
      { patient_id: ids[0], type: 'systolic', value: 120, unit: 'mmHg', ts: '2026-02-02T00:00:00' },
    ]);
  });

  it('finds the newest timestamp for the sample shift without a row from a clock far ahead', async () => {
    const lines = [
      REFERENCE_HEADER,
      'a@example.org,2025-06-01T08:00:00,100,,,',
      'a@example.org,2199-01-01T00:00:00,100,,,',
      'a@example.org,2025-06-02T09:30:00,100,,,',
    ];
    const latest = NOW.getTime() + 86_400_000;
    expect(await newestTimestamp(csv(...lines), latest)).toBe(Date.UTC(2025, 5, 2, 9, 30));
  });

  it('counts lines across quoted line breaks and CRLF endings', async () => {
    const { emails } = await patients(1);
    const sink = new MemorySink();
    const text = `${REFERENCE_HEADER}\r\n"${emails[0]}\r\nx",2025-01-01T00:00:00,100,,,\r\nbad,2025-01-01T00:00:00,100,,,\r\n`;
    await loadReadings(deps(), Readable.from([text]), { rejects: sink });
    expect(sink.rejects.map((x) => [x.line, x.reason])).toEqual([
      [2, 'bad_email'],
      [4, 'bad_email'],
    ]);
  });

  it('rejects exactly the defects of a generated dirty file and loads every clean row', async () => {
    const sink = new MemorySink();
    const p = await loadPatients(deps(), readFileSync(path.join(FIXTURES, 'patients.json'), 'utf8'));
    expect(p.report.rejected).toBe(0);
    const text = readFileSync(path.join(FIXTURES, 'readings.csv'), 'utf8');
    const report = await loadReadings(deps(), Readable.from([text]), { rejects: sink, batchSize: 50 });

    const manifest = new Map(
      readFileSync(path.join(FIXTURES, 'dirty-manifest.csv'), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(','))
        .map(([line, defect]) => [Number(line), defect as string]),
    );
    const expected = [...manifest].filter(([, d]) => d !== 'duplicate').sort(([x], [y]) => x - y);
    expect(sink.rejects.map((x) => [x.line, x.reason])).toEqual(expected);
    const duplicates = [...manifest.values()].filter((d) => d === 'duplicate').length;
    expect(duplicates).toBeGreaterThan(0);
    expect(report.rows.duplicate).toBe(duplicates);

    // Every cell of every clean row is stored.
    const dataLines = text.trim().split('\n').slice(1);
    const cleanCells = dataLines
      .filter((_, i) => !manifest.has(i + 2))
      .reduce(
        (n, l) =>
          n +
          l
            .split(',')
            .slice(2)
            .filter((c) => c !== '').length,
        0,
      );
    const rowsWithBadCell = [...manifest.values()].filter((d) => d === 'non_numeric' || d === 'impossible_value');
    expect(report.readings.inserted).toBeGreaterThanOrEqual(cleanCells);
    expect(report.readings.rejected).toBe(rowsWithBadCell.length);
    expect(report.rows.read).toBe(dataLines.length);
    expect(report.rows.rejected).toBe(expected.length - rowsWithBadCell.length);
  });
});

describe('loadReadings: a dirty file from the project generator', () => {
  it('loads its clean rows completely, reports its duplicates as duplicates and rejects exactly its defects', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pp-dirty-'));
    try {
      // Another seed and time span than the committed fixture; batches of 150 rows put
      // many duplicates in a later batch than the row they repeat.
      await generateDataset({ out: dir, patients: 12, rows: 1_500, seed: 7, end: '2023-06-30T20:00:00', dirty: 0.08 });
      const p = await loadPatients(deps(), readFileSync(path.join(dir, 'patients.json'), 'utf8'));
      expect(p.report.rejected).toBe(0);
      const text = readFileSync(path.join(dir, 'readings.csv'), 'utf8');
      const sink = new MemorySink();
      const report = await loadReadings(deps(), Readable.from([text]), { rejects: sink, batchSize: 150 });

      const manifest = new Map(
        readFileSync(path.join(dir, 'dirty-manifest.csv'), 'utf8')
          .trim()
          .split('\n')
          .slice(1)
          .map((l) => l.split(','))
          .map(([line, defect]) => [Number(line), defect as string]),
      );
      const kinds = new Set(manifest.values());
      expect([...kinds].sort()).toEqual([...DEFECT_KINDS].sort());
      const dataLines = text.trim().split('\n').slice(1);
      const cellsOf = (line: string) =>
        line
          .split(',')
          .slice(2)
          .filter((c) => c !== '').length;
      let cleanCells = 0;
      let duplicateCells = 0;
      dataLines.forEach((l, i) => {
        const defect = manifest.get(i + 2);
        if (defect === undefined) cleanCells += cellsOf(l);
        else if (defect === 'duplicate') duplicateCells += cellsOf(l);
        else if (defect === 'non_numeric' || defect === 'impossible_value') cleanCells += cellsOf(l) - 1;
      });

      expect(sink.rejects.map((x) => [x.line, x.reason])).toEqual(
        [...manifest].filter(([, d]) => d !== 'duplicate').sort(([x], [y]) => x - y),
      );
      const count = (d: string) => [...manifest.values()].filter((x) => x === d).length;
      const badCells = count('non_numeric') + count('impossible_value');
      expect(report.rows).toEqual({
        read: dataLines.length,
        loaded: dataLines.length - manifest.size + badCells,
        duplicate: count('duplicate'),
        rejected: manifest.size - count('duplicate') - badCells,
        rejectedByReason: Object.fromEntries(
          ['bad_email', 'bad_timestamp', 'unknown_patient', 'wrong_column_count'].map((r) => [r, count(r)]),
        ),
      });
      expect(report.readings).toEqual({
        inserted: cleanCells,
        updated: 0,
        unchanged: 0,
        duplicate: duplicateCells,
        rejected: badCells,
        rejectedByReason: { non_numeric: count('non_numeric'), impossible_value: count('impossible_value') },
      });
      // Stored: exactly the clean readings, each once.
      const [stored] = await queryRows<{ n: number }>(
        database.db,
        sql`select count(*)::int as n from biometrics b join patients p on p.id = b.patient_id
            where p.email = any(${sql.param(generatePatients({ patients: 12, seed: 7 }).map((x) => x.email.toLowerCase()))}::text[])
              and b.timestamp < '2023-07-01T00:00:00Z'`,
      );
      expect(Number(stored?.n)).toBe(cleanCells);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('loadReadings: dry run and failures', () => {
  it('a dry run reports what would change and writes nothing', async () => {
    const { emails, ids } = await patients(1);
    const lines = [
      REFERENCE_HEADER,
      `${emails[0]},2025-08-01T08:00:00,100,120,80,`,
      `${emails[0]},2025-08-01T09:00:00,110,,,`,
    ];
    await loadReadings(deps(), csv(lines[0] as string, lines[1] as string));
    const stored = await readingsOf(ids);
    const buffer = await bufferOf(ids);
    const changed = [REFERENCE_HEADER, `${emails[0]},2025-08-01T08:00:00,100,125,80,`, lines[2] as string, 'x,y,1,,,'];
    const sink = new MemorySink();
    const dry = await loadReadings(deps(), csv(...changed), { dryRun: true, rejects: sink });
    expect(dry).toEqual({
      rows: { read: 3, loaded: 2, duplicate: 0, rejected: 1, rejectedByReason: { bad_email: 1 } },
      readings: { inserted: 1, updated: 1, unchanged: 2, duplicate: 0, rejected: 0, rejectedByReason: {} },
      bucketsTouched: 2,
      batches: 1,
    });
    expect(sink.rejects).toHaveLength(1);
    expect(await readingsOf(ids)).toEqual(stored);
    expect(await bufferOf(ids)).toEqual(buffer);
    // The real run then does what the dry run announced.
    const real = await loadReadings(deps(), csv(...changed));
    expect(real.readings).toEqual(dry.readings);
  });

  it('a dry run of new patients counts their readings as inserts and stores neither', async () => {
    const email = uniqueEmail('dry');
    const json = JSON.stringify([{ name: 'New', dob: '1990-01-01', gender: 'FEMALE', email }]);
    const p = await loadPatients(deps(), json, { dryRun: true });
    expect(p.report).toMatchObject({ records: 1, inserted: 1 });
    const r = await loadReadings(deps(), csv(REFERENCE_HEADER, `${email},2025-08-01T08:00:00,100,,,`), {
      dryRun: true,
      pendingPatients: p.pending,
    });
    expect(r.readings.inserted).toBe(1);
    expect(r.rows.rejected).toBe(0);
    const rows = await queryRows(database.db, sql`select id from patients where email = ${email}`);
    expect(rows).toEqual([]);
  });

  it('after a failure mid-file, re-running completes the load with nothing lost or doubled', async () => {
    const { emails, ids } = await patients(2);
    const lines = [REFERENCE_HEADER];
    for (let i = 0; i < 20; i++) {
      const e = emails[i % 2];
      lines.push(`${e},2025-09-01T${String(i).padStart(2, '0')}:00:00,${90 + i},${110 + i},,`);
    }
    let failAt: number | undefined = 3;
    const failing = deps({
      afterBatch: (n) => {
        if (n === failAt) throw new Error('injected failure');
      },
    });
    await expect(loadReadings(failing, csv(...lines), { batchSize: 4 })).rejects.toThrow('injected failure');
    // The three committed batches (12 rows, 24 readings) are stored, with their buffer rows.
    expect(await readingsOf(ids)).toHaveLength(24);
    expect(await readingsMissingFromBuffer(ids)).toBe(0);

    failAt = undefined;
    const rerun = await loadReadings(failing, csv(...lines), { batchSize: 4 });
    expect(rerun.readings).toEqual({
      inserted: 16,
      updated: 0,
      unchanged: 24,
      duplicate: 0,
      rejected: 0,
      rejectedByReason: {},
    });
    const stored = await readingsOf(ids);
    expect(stored).toHaveLength(40);
    expect(new Set(stored.map((s) => `${s.patient_id}|${s.type}|${s.ts}`)).size).toBe(40);
    expect(await readingsMissingFromBuffer(ids)).toBe(0);
    const again = await loadReadings(deps(), csv(...lines));
    expect(again.readings).toMatchObject({ inserted: 0, updated: 0, unchanged: 40 });
  });

  it('stopped through its signal: the batch in the database finishes, nothing more is read, re-running completes', async () => {
    const { emails, ids } = await patients(2);
    const lines = [REFERENCE_HEADER];
    for (let i = 0; i < 20; i++) {
      lines.push(`${emails[i % 2]},2025-09-02T${String(i).padStart(2, '0')}:00:00,${90 + i},,,`);
    }
    const stop = new AbortController();
    const stopping = deps({
      signal: stop.signal,
      // The stop arrives while batch 2 is in the database: it commits, batch 3 never starts.
      afterBatch: (n) => {
        if (n === 2) stop.abort('SIGTERM');
      },
    });
    const err = await loadReadings(stopping, csv(...lines), { batchSize: 4 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoadStoppedError);
    const stopped = err as LoadStoppedError;
    expect(stopped.message).toBe('stopped by SIGTERM before the end of the file, after 8 rows');
    expect(stopped.reason).toBe('SIGTERM');
    expect(stopped.report).toMatchObject({ rows: { read: 8, loaded: 8 }, readings: { inserted: 8 }, batches: 2 });
    expect(await readingsOf(ids)).toHaveLength(8);
    expect(await readingsMissingFromBuffer(ids)).toBe(0);

    const rerun = await loadReadings(deps(), csv(...lines), { batchSize: 4 });
    expect(rerun.readings).toMatchObject({ inserted: 12, unchanged: 8, rejected: 0 });
    expect(await readingsOf(ids)).toHaveLength(20);
  });

  it('a stop during the last batch is no stop: the file was read to its end', async () => {
    const { emails, ids } = await patients(1);
    const lines = [REFERENCE_HEADER, `${emails[0]},2025-09-03T08:00:00,90,,,`];
    const stop = new AbortController();
    const report = await loadReadings(
      deps({ signal: stop.signal, afterBatch: () => stop.abort('SIGINT') }),
      csv(...lines),
    );
    expect(report.rows).toMatchObject({ read: 1, loaded: 1 });
    expect(await readingsOf(ids)).toHaveLength(1);
  });

  it('a quote that is never closed is reported at the line where its record starts', async () => {
    const { emails, ids } = await patients(1);
    const e = emails[0];
    const tail = Array.from(
      { length: 3000 },
      (_, i) => `${e},2025-09-04T00:${String(i % 60).padStart(2, '0')}:00,90,,,`,
    );
    // Far more than the 64 KB a record may hold follows the quote: the parser gives up
    // thousands of lines later, but the report names line 3.
    await expect(
      loadReadings(
        deps(),
        csv(REFERENCE_HEADER, `${e},2025-09-04T08:00:00,91,,,`, `${e},"2025-09-04T09:00:00,92,,,`, ...tail),
        {
          batchSize: 1,
        },
      ),
    ).rejects.toThrow(
      new CsvRecordError(
        'CSV_MAX_RECORD_SIZE',
        3,
        'the record starting here is longer than 65536 bytes (a quote that is never closed?)',
      ),
    );
    // At the end of the file, the same.
    await expect(
      loadReadings(
        deps(),
        csv(REFERENCE_HEADER, `${e},2025-09-04T10:00:00,93,,,`, '', `${e},"2025-09-04T11:00:00,94,,,`),
        {
          batchSize: 1,
        },
      ),
    ).rejects.toThrow('line 4: a quote in the record starting here is never closed');
    // Nothing from the broken record on was stored (rows before it may have been).
    for (const r of await readingsOf(ids)) expect(['2025-09-04T08:00:00', '2025-09-04T10:00:00']).toContain(r.ts);
  });

  it('a statement that fails leaves its whole batch out, readings and buffer rows alike', async () => {
    const { emails, ids } = await patients(2);
    const [a, b] = emails;
    const [idA] = ids;
    const lines = [
      REFERENCE_HEADER,
      `${a},2025-10-01T08:00:00,100,,,`,
      `${b},2025-10-01T08:00:00,100,,,`,
      `${a},2025-10-01T09:00:00,101,,,`,
      `${b},2025-10-01T09:00:00,101,,,`,
    ];
    // After the first batch, patient b disappears while the loader still has its id
    // cached: the second batch's single statement fails on the foreign key.
    const racing = deps({
      afterBatch: async (n) => {
        if (n === 1) await queryRows(database.db, sql`delete from patients where id = ${ids[1]}`);
      },
    });
    await expect(loadReadings(racing, csv(...lines), { batchSize: 2 })).rejects.toThrow();
    expect(await readingsOf([idA as number])).toEqual([
      { patient_id: idA, type: 'glucose', value: 100, unit: 'mg/dL', ts: '2025-10-01T08:00:00' },
    ]);
    expect((await bufferOf([idA as number])).map((r) => r.bucket)).toEqual(['2025-10-01T08']);
  });
});

describe('loadPatients', () => {
  it('upserts by email: insert, then unchanged, then updated; duplicates and bad records reported', async () => {
    const e1 = uniqueEmail('pat');
    const e2 = uniqueEmail('pat');
    const sink = new MemorySink();
    const text = [
      '[',
      `  {"name": "Ana", "dob": "1980-05-12", "gender": "FEMALE", "email": "${e1.toUpperCase()}"},`,
      `  {"name": "Bob", "dob": "1975-11-03", "gender": "male", "email": "${e2}", "phone": "555-0100", "id": 9},`,
      `  {"name": "Ana", "dob": "1980-05-12", "gender": "female", "email": "${e1}"},`,
      `  {"name": "Ana B", "dob": "1980-05-12", "gender": "female", "email": "${e1}"},`,
      '  {"name": "Bad", "dob": "1980-02-30", "gender": "male", "email": "bad@example.org"},',
      '  {"name": oops}',
      ']',
    ].join('\n');
    const first = await loadPatients(deps(), text, { rejects: sink });
    expect(first.report).toEqual({
      records: 6,
      inserted: 2,
      updated: 0,
      unchanged: 0,
      duplicate: 1,
      rejected: 3,
      rejectedByReason: { conflicting_duplicate: 1, invalid_record: 1, malformed_json: 1 },
      ignoredProperties: ['id'],
    });
    expect(sink.rejects.map((r) => [r.source, r.line, r.column, r.reason])).toEqual([
      ['patients', 5, 'email', 'conflicting_duplicate'],
      ['patients', 6, 'dob', 'invalid_record'],
      ['patients', 7, '', 'malformed_json'],
    ]);
    const stored = await queryRows<{ email: string; gender: string; name: string }>(
      database.db,
      sql`select email, gender, name from patients where email = ${e1}`,
    );
    expect(stored).toEqual([{ email: e1, gender: 'female', name: 'Ana' }]);

    const again = await loadPatients(deps(), text);
    expect(again.report).toMatchObject({ inserted: 0, updated: 0, unchanged: 2 });
    const changed = text.replace('"Bob"', '"Robert"');
    const third = await loadPatients(deps(), changed);
    expect(third.report).toMatchObject({ inserted: 0, updated: 1, unchanged: 1 });
    const bob = await queryRows<{ name: string; phone: string }>(
      database.db,
      sql`select name, phone from patients where email = ${e2}`,
    );
    expect(bob).toEqual([{ name: 'Robert', phone: '555-0100' }]);
  });
});
