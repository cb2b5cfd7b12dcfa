/** Shared set-up for the analytics tests: patients, readings through every door, job runs. */
import { sql } from 'drizzle-orm';
import { type Db, type DbOrTx, queryRows } from '../../src/db/database.js';
import { patients } from '../../src/db/schema.js';
import type { ReadingType } from '../../src/domain/readings.js';
import { type JobOutcome, type RunOptions, runAnalyticsJob } from '../../src/modules/analytics/analytics.jobs.js';
import { deleteReading, upsertReading } from '../../src/modules/biometrics/biometrics.repository.js';
import { uniqueEmail } from './app.js';

const UNITS: Record<ReadingType, string> = { glucose: 'mg/dL', systolic: 'mmHg', diastolic: 'mmHg', weight: 'kg' };

const quiet = () => {};
export const silentLog = { debug: quiet, info: quiet, warn: quiet, error: quiet };

/** Inserts a patient directly and returns its id. */
export async function newPatient(db: DbOrTx): Promise<number> {
  const [row] = await db
    .insert(patients)
    .values({ name: 'Test Patient', dob: '1980-01-01', gender: 'other', email: uniqueEmail('analytics') })
    .returning({ id: patients.id });
  if (!row) throw new Error('patient insert returned nothing');
  return row.id;
}

/** Inserts or updates a reading the way the API does (reading + change buffer in one statement). */
export async function put(db: DbOrTx, patientId: number, type: ReadingType, iso: string, value: number) {
  const r = await upsertReading(db, { patientId, type, value, unit: UNITS[type], timestamp: new Date(iso) });
  if (!r || !('row' in r)) throw new Error('upsert stored nothing');
  return r.row;
}

/** Deletes a reading the way the API does. */
export async function remove(db: DbOrTx, id: number): Promise<void> {
  const d = await deleteReading(db, id, null);
  if (!d) throw new Error(`reading ${id} not found`);
}

/**
 * Loads readings with plain SQL, as a bulk loader or ETL would: rows into `biometrics`
 * and their buckets into `biometrics_hourly` in the same statement, duplicates skipped.
 */
export async function etlInsert(
  db: DbOrTx,
  rows: { patientId: number; type: ReadingType; iso: string; value: number }[],
): Promise<number> {
  const [r] = await queryRows(
    db,
    sql`
    with src as (
      select * from unnest(${sql.param(rows.map((x) => x.patientId))}::int[],
                           ${sql.param(rows.map((x) => x.type))}::text[],
                           ${sql.param(rows.map((x) => x.value))}::float8[],
                           ${sql.param(rows.map((x) => UNITS[x.type]))}::text[],
                           ${sql.param(rows.map((x) => x.iso))}::timestamptz[]) as t(patient_id, type, value, unit, ts)
    ), ins as (
      insert into biometrics (patient_id, type, value, unit, timestamp)
      select patient_id, type, value, unit, ts from src
      on conflict (patient_id, type, timestamp) do nothing
      returning patient_id, type, timestamp
    ), buf as (
      insert into biometrics_hourly (patient_id, type, bucket_start)
      select patient_id, type, date_trunc('hour', timestamp, 'UTC') from ins
    )
    select count(*)::int as n from ins`,
  );
  return Number(r?.n ?? 0);
}

/** Runs the job with a silent log and a fixed instance id. */
export function runJob(
  db: Db,
  version: 1 | 2,
  opts: Partial<RunOptions> & { instanceId?: string; now?: () => Date } = {},
): Promise<JobOutcome> {
  return runAnalyticsJob(
    { db, log: silentLog, now: opts.now ?? (() => new Date()), instanceId: opts.instanceId ?? 'test' },
    {
      version,
      trigger: opts.trigger ?? 'manual',
      ...(opts.tickAt ? { tickAt: opts.tickAt } : {}),
      ...(opts.hooks ? { hooks: opts.hooks } : {}),
    },
  );
}

/** Like {@link runJob}, but fails the test unless the run happened and succeeded. */
export async function runOk(db: Db, version: 1 | 2, opts: Parameters<typeof runJob>[2] = {}) {
  const outcome = await runJob(db, version, opts);
  if (!outcome.ran) throw new Error('analytics run was skipped');
  if (outcome.run.status !== 'succeeded') throw new Error(`analytics run failed: ${outcome.run.error}`);
  return outcome;
}

/** Change-buffer rows of these patients, as "patient|type|bucket" strings, sorted. */
export async function bufferOf(db: DbOrTx, patientIds: number[]): Promise<string[]> {
  const rows = await queryRows(
    db,
    sql`select patient_id, type, bucket_start from biometrics_hourly
        where patient_id = any(${sql.param(patientIds)}::int[])`,
  );
  return rows
    .map((r) => {
      const t = r.bucket_start instanceof Date ? r.bucket_start : new Date(String(r.bucket_start));
      return `${r.patient_id}|${r.type}|${t.toISOString()}`;
    })
    .sort();
}
