/**
 * Set-based SQL for the loader: one statement per batch, whatever its size. Arrays go in
 * as parameters and come apart with unnest(); there is never a query per row.
 */
import { type SQL, sql } from 'drizzle-orm';
import { type DbOrTx, queryRows } from '../../db/database.js';

export interface StoredPatient {
  id: number;
  name: string;
  dob: string;
  gender: string;
  address: string | null;
  email: string;
  phone: string | null;
}

/** Patients with these (lower-case) emails. One query. */
export async function findPatientsByEmail(db: DbOrTx, emails: readonly string[]): Promise<StoredPatient[]> {
  if (emails.length === 0) return [];
  const rows = await queryRows<StoredPatient & { dob: string | Date }>(
    db,
    sql`select id, name, dob::text as dob, gender, address, email, phone
        from patients where email = any(${sql.param([...emails])}::text[])`,
  );
  return rows.map((r) => ({ ...r, id: Number(r.id), dob: String(r.dob) }));
}

/** email -> id for the emails that exist. One query. */
export async function findPatientIdsByEmail(db: DbOrTx, emails: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (emails.length === 0) return out;
  const rows = await queryRows<{ id: number; email: string }>(
    db,
    sql`select id, email from patients where email = any(${sql.param([...emails])}::text[])`,
  );
  for (const r of rows) out.set(r.email, Number(r.id));
  return out;
}

/** The subset of `ids` that exist. One query. */
export async function findExistingPatientIds(db: DbOrTx, ids: readonly number[]): Promise<Set<number>> {
  if (ids.length === 0) return new Set();
  const rows = await queryRows<{ id: number }>(
    db,
    sql`select id from patients where id = any(${sql.param([...ids])}::int[])`,
  );
  return new Set(rows.map((r) => Number(r.id)));
}

export interface PatientUpsert {
  name: string;
  dob: string;
  gender: string;
  email: string;
  address: string | null;
  phone: string | null;
}

/** Inserts or overwrites patients by email; returns their ids. One statement. */
export async function upsertPatients(
  db: DbOrTx,
  rows: readonly PatientUpsert[],
): Promise<{ id: number; email: string }[]> {
  if (rows.length === 0) return [];
  const col = <K extends keyof PatientUpsert>(k: K) => sql.param(rows.map((r) => r[k]));
  const result = await queryRows<{ id: number; email: string }>(
    db,
    sql`
    insert into patients (name, dob, gender, email, address, phone)
    select * from unnest(${col('name')}::text[], ${col('dob')}::date[], ${col('gender')}::text[],
                         ${col('email')}::text[], ${col('address')}::text[], ${col('phone')}::text[])
    on conflict (email) do update
      set name = excluded.name, dob = excluded.dob, gender = excluded.gender,
          address = excluded.address, phone = excluded.phone, updated_at = now()
    returning id, email`,
  );
  return result.map((r) => ({ id: Number(r.id), email: r.email }));
}

/** Stored values of these readings, those that exist. One query. */
export async function findReadingValues(
  db: DbOrTx,
  keys: readonly { patientId: number; type: string; tsMs: number }[],
): Promise<{ patientId: number; type: string; tsMs: number; value: number }[]> {
  if (keys.length === 0) return [];
  const col = (values: readonly (number | string)[]) => sql.param(values.join(','));
  const rows = await queryRows<{ patient_id: number; type: string; ms: number; value: number }>(
    db,
    sql`select b.patient_id, b.type, (extract(epoch from b.timestamp) * 1000)::float8 as ms, b.value
    from unnest(string_to_array(${col(keys.map((k) => k.patientId))}, ',')::int[],
                string_to_array(${col(keys.map((k) => k.type))}, ','),
                string_to_array(${col(keys.map((k) => k.tsMs))}, ',')::float8[]) as k(patient_id, type, ms)
    join biometrics b on b.patient_id = k.patient_id and b.type = k.type and b.timestamp = to_timestamp(k.ms / 1000)`,
  );
  return rows.map((r) => ({
    patientId: Number(r.patient_id),
    type: r.type,
    tsMs: Number(r.ms),
    value: Number(r.value),
  }));
}

const SEEN_TABLE_RE = /^ingest_seen_[a-z0-9]+$/;

function seenTable(name: string): SQL {
  if (!SEEN_TABLE_RE.test(name)) throw new Error(`invalid staging table name ${name}`);
  return sql.raw(`pg_temp.${name}`);
}

/**
 * Creates the session-local table of readings already given earlier in this file: how
 * duplicates across batches are recognised without holding the file in memory.
 */
export async function createSeenTable(db: DbOrTx, name: string): Promise<void> {
  await db.execute(sql`
    create temp table if not exists ${seenTable(name)} (
      patient_id integer not null,
      type text not null,
      ts timestamptz not null,
      value double precision not null,
      unit text not null,
      line integer not null,
      primary key (patient_id, type, ts)
    )`);
}

export async function dropSeenTable(db: DbOrTx, name: string): Promise<void> {
  await db.execute(sql`drop table if exists ${seenTable(name)}`);
}

/** Lifts the API's statement timeout on a loader session: its statements are bounded by the batch size. */
export async function startLoaderSession(db: DbOrTx): Promise<void> {
  await db.execute(sql`set statement_timeout = 0`);
}

/** Gives a pooled session back its configured statement timeout. */
export async function endLoaderSession(db: DbOrTx): Promise<void> {
  await db.execute(sql`reset statement_timeout`);
}

/** Opens a transaction on a session (for batches split over several sessions). */
export async function beginTransaction(db: DbOrTx): Promise<void> {
  await db.execute(sql`begin`);
}

/** Commits or rolls back the session's open transaction. */
export async function endTransaction(db: DbOrTx, commit: boolean): Promise<void> {
  await db.execute(commit ? sql`commit` : sql`rollback`);
}

/** A batch of canonical readings as parallel arrays (keys unique within the batch). */
export interface ReadingBatch {
  patientId: number[];
  type: string[];
  value: number[];
  unit: string[];
  tsMs: number[];
  line: number[];
}

export interface MergeOptions {
  /** Session table from {@link createSeenTable}: readings seen in an earlier batch are not merged again. */
  seenTable?: string;
  /** Compute what would change without writing readings or the change buffer. */
  dryRun?: boolean;
  /** Also return which batch positions were inserted or updated. */
  perItem?: boolean;
}

export interface MergeResult {
  inserted: number;
  updated: number;
  /** Rows appended (or, in a dry run, that would be appended) to biometrics_hourly. */
  buckets: number;
  /** Readings of the batch already given earlier in the file, with that first line and value. */
  priors: { key: ReadingKey; firstLine: number; firstValue: number }[];
  /** With `perItem`: the readings written, and whether as an insert. */
  changed: { key: ReadingKey; inserted: boolean }[];
}

/** Identifies a reading: (patient, type, timestamp). */
export interface ReadingKey {
  patientId: number;
  type: string;
  tsMs: number;
}

/**
 * Upserts a batch of readings on (patient_id, type, timestamp) in ONE statement: a value
 * that is already stored is left alone, a different one is updated, and every touched
 * (patient, type, hour) is appended to the analytics change buffer in the same statement,
 * hence the same transaction. A failed batch changes nothing, so batches are idempotent.
 *
 * The CTEs never join one another: row estimates of CTEs and unnest() are guesses, and a
 * nested loop between two 50,000-row CTEs would cost seconds per batch.
 */
export async function mergeReadings(db: DbOrTx, b: ReadingBatch, opts: MergeOptions = {}): Promise<MergeResult> {
  const out: MergeResult = { inserted: 0, updated: 0, buckets: 0, priors: [], changed: [] };
  if (b.patientId.length === 0) return out;

  // Each column travels as one comma-separated text: far less garbage and CPU than the
  // driver's array encoding, and none of these values can contain a comma.
  const col = (values: readonly (number | string)[]) => sql.param(values.join(','));
  const src = sql`src as (
    select t.patient_id, t.type, t.value, t.unit, to_timestamp(t.ms / 1000) as ts, t.line
    from unnest(string_to_array(${col(b.patientId)}, ',')::int[], string_to_array(${col(b.type)}, ','),
                string_to_array(${col(b.value)}, ',')::float8[], string_to_array(${col(b.unit)}, ','),
                string_to_array(${col(b.tsMs)}, ',')::float8[], string_to_array(${col(b.line)}, ',')::int[])
      as t(patient_id, type, value, unit, ms, line)
  )`;

  // First occurrence in the file wins: a repeat keeps the stored first line and value and
  // comes back with fresh = false; new readings come back as they were given.
  const seen = opts.seenTable
    ? sql`, seen as (
        insert into ${seenTable(opts.seenTable)} as s (patient_id, type, ts, value, unit, line)
        select patient_id, type, ts, value, unit, line from src
        on conflict (patient_id, type, ts) do update set line = s.line
        returning s.patient_id, s.type, s.ts, s.value, s.unit, s.line, (s.xmax = 0) as fresh
      ), fresh as (select * from seen where fresh)`
    : sql`, fresh as (select * from src)`;

  const change = opts.dryRun
    ? sql`, up as (
        select f.patient_id, f.type, f.ts as timestamp, (b.id is null) as inserted
        from fresh f left join biometrics b
          on b.patient_id = f.patient_id and b.type = f.type and b.timestamp = f.ts
        where b.id is null or b.value is distinct from f.value or b.unit is distinct from f.unit
      ), buf as (
        select distinct patient_id, type, date_trunc('hour', timestamp, 'UTC') from up
      )`
    : sql`, up as (
        insert into biometrics (patient_id, type, value, unit, timestamp)
        -- In key order: concurrent statements whose readings overlap then wait for each
        -- other in the same order instead of deadlocking.
        select patient_id, type, value, unit, ts from fresh order by patient_id, type, ts
        on conflict (patient_id, type, timestamp) do update
          set value = excluded.value, unit = excluded.unit, updated_at = now()
          where biometrics.value is distinct from excluded.value or biometrics.unit is distinct from excluded.unit
        returning patient_id, type, timestamp, (xmax = 0) as inserted
      ), buf as (
        insert into biometrics_hourly (patient_id, type, bucket_start)
        select distinct patient_id, type, date_trunc('hour', timestamp, 'UTC') from up
        returning 1
      )`;

  const priors = opts.seenTable
    ? sql`union all
      select 1, patient_id, type, (extract(epoch from ts) * 1000)::float8, line, value from seen where not fresh`
    : sql``;
  const perItem = opts.perItem
    ? sql`union all
      select 2, patient_id, type, (extract(epoch from timestamp) * 1000)::float8, case when inserted then 1 else 0 end, 0
      from up`
    : sql``;

  const rows = await queryRows<{ kind: number; p: number; t: string | null; ms: number; a: number; v: number }>(
    db,
    sql`with ${src}${seen}${change}
    select 0 as kind, (select count(*) from up where inserted)::int as p, null::text as t,
           (select count(*) from up where not inserted)::float8 as ms, (select count(*) from buf)::int as a,
           0::float8 as v
    ${priors}
    ${perItem}`,
  );

  for (const r of rows) {
    const kind = Number(r.kind);
    if (kind === 0) {
      out.inserted = Number(r.p);
      out.updated = Number(r.ms);
      out.buckets = Number(r.a);
      continue;
    }
    const key = { patientId: Number(r.p), type: String(r.t), tsMs: Number(r.ms) };
    if (kind === 1) out.priors.push({ key, firstLine: Number(r.a), firstValue: Number(r.v) });
    else out.changed.push({ key, inserted: Number(r.a) === 1 });
  }
  return out;
}
