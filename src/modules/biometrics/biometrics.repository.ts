/**
 * Drizzle access to readings. Every write also appends the touched hourly bucket to the
 * change buffer (biometrics_hourly) in the same statement, so the incremental analytics
 * engine sees every change from every door.
 */
import { and, count, desc, eq, gte, lt, type SQL, sql } from 'drizzle-orm';
import { type DbOrTx, queryRows } from '../../db/database.js';
import { perVariant, qb, rawStatement } from '../../db/prepared.js';
import { biometrics, biometricsCounts } from '../../db/schema.js';
import { BP_PARTNER } from '../../domain/clinical.js';
import type { ReadingType } from '../../domain/readings.js';

export interface ReadingRow {
  id: number;
  patientId: number;
  type: ReadingType;
  value: number;
  unit: string;
  timestamp: Date;
}

export interface HistoryFilter {
  patientId: number;
  type?: ReadingType | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
}

const readingColumns = {
  id: biometrics.id,
  patientId: biometrics.patientId,
  type: biometrics.type,
  value: biometrics.value,
  unit: biometrics.unit,
  timestamp: biometrics.timestamp,
};

/** Bits of the optional history filters: each combination is its own prepared statement. */
const HAS_TYPE = 1;
const HAS_FROM = 2;
const HAS_TO = 4;

function historyWhere(filters: number): SQL | undefined {
  return and(
    eq(biometrics.patientId, sql.placeholder('patientId')),
    filters & HAS_TYPE ? eq(biometrics.type, sql.placeholder('type')) : undefined,
    filters & HAS_FROM ? gte(biometrics.timestamp, sql.placeholder('from')) : undefined,
    filters & HAS_TO ? lt(biometrics.timestamp, sql.placeholder('to')) : undefined,
  );
}

interface HistoryValues extends Record<string, unknown> {
  patientId: number;
  type: ReadingType | undefined;
  from: string | undefined;
  to: string | undefined;
  limit: number;
  offset: number;
}

function buildHistoryStatements(filters: number) {
  const w = historyWhere(filters);
  return {
    page: rawStatement<HistoryValues>(
      `biometrics_history_page_${filters}`,
      qb
        .select(readingColumns)
        .from(biometrics)
        .where(w)
        // Within one type, timestamps are unique: ordering by timestamp alone is the same
        // order and lets PostgreSQL read the (patient, type, timestamp) index backwards
        // without a sort step. Across types, the id breaks ties.
        // The all-types index is (timestamp DESC NULLS LAST, id DESC NULLS LAST): the ORDER BY must
        // say NULLS LAST too, or PostgreSQL sorts the patient's whole history for every page.
        .orderBy(
          ...(filters & HAS_TYPE
            ? [desc(biometrics.timestamp)]
            : [sql`${biometrics.timestamp} desc nulls last`, sql`${biometrics.id} desc nulls last`]),
        )
        .limit(sql.placeholder('limit'))
        .offset(sql.placeholder('offset')),
    ),
    // Without a time range the total is the sum of the patient's count deltas (a few rows,
    // see foldReadingCounts), where a count(*) reads every index entry of the patient's
    // history. A range is counted. `deltas` tells the caller when to fold.
    count:
      filters & (HAS_FROM | HAS_TO)
        ? rawStatement<HistoryValues>(
            `biometrics_history_count_${filters}`,
            qb
              .select({ n: count().as('n'), deltas: sql<number>`0`.as('deltas') })
              .from(biometrics)
              .where(w),
          )
        : rawStatement<HistoryValues>(
            `biometrics_history_total_${filters}`,
            qb
              .select({
                n: (filters & HAS_TYPE
                  ? sql<string>`coalesce(sum(${biometricsCounts.n}) filter (where ${biometricsCounts.type} = ${sql.placeholder('type')}), 0)`
                  : sql<string>`coalesce(sum(${biometricsCounts.n}), 0)`
                ).as('n'),
                deltas: count().as('deltas'),
              })
              .from(biometricsCounts)
              .where(eq(biometricsCounts.patientId, sql.placeholder('patientId'))),
          ),
  };
}

/** The history statements, built once per filter combination. */
const historyStatements = perVariant(buildHistoryStatements);

export async function history(
  db: DbOrTx,
  f: HistoryFilter,
  limit: number,
  offset: number,
): Promise<{ rows: ReadingRow[]; total: number; countDeltas: number }> {
  const filters = (f.type ? HAS_TYPE : 0) | (f.from ? HAS_FROM : 0) | (f.to ? HAS_TO : 0);
  const s = historyStatements(filters);
  // Placeholders bind as they are: instants go as UTC ISO text, as the column encoder would send them.
  const values: HistoryValues = {
    patientId: f.patientId,
    type: f.type,
    from: f.from?.toISOString(),
    to: f.to?.toISOString(),
    limit,
    offset,
  };
  const [rows, totals] = await Promise.all([
    s.page.rows<Record<string, unknown>>(db, values),
    s.count.rows<{ n: unknown; deltas: unknown }>(db, values),
  ]);
  return {
    rows: rows.map(toRow),
    total: Number(totals[0]?.n ?? 0),
    countDeltas: Number(totals[0]?.deltas ?? 0),
  };
}

/**
 * The fold of the patients matching `which` (a condition on `patient_id`): their delta rows
 * become one row per type, in one statement, which also says how many patients it folded.
 * Safe alongside writers (their new deltas are not in the deleted set) and alongside
 * another fold (the second one finds the rows already deleted and adds nothing); readers
 * see the rows before or after.
 */
async function foldCountsWhere(db: DbOrTx, which: SQL): Promise<number> {
  const rows = await queryRows<{ patients: number }>(
    db,
    sql`with gone as (
      delete from biometrics_counts where ${which}
      returning patient_id, type, n
    ), folded as (
      insert into biometrics_counts (patient_id, type, n)
      select patient_id, type, sum(n) from gone group by patient_id, type having sum(n) <> 0
    )
    select count(distinct patient_id)::int as patients from gone`,
  );
  return Number(rows[0]?.patients ?? 0);
}

/** Folds the count deltas of some patients into one row per type (see {@link foldCountsWhere}). */
export async function foldReadingCounts(db: DbOrTx, patientIds: readonly number[]): Promise<void> {
  if (patientIds.length === 0) return;
  await foldCountsWhere(db, sql`patient_id = any(${sql.param(patientIds)}::int[])`);
}

/**
 * Folds the count deltas of every patient with more than `moreThan` of them. History reads
 * fold the patients they read; this catches patients whose readings are written and not
 * read (a device sending every minute adds 1,440 deltas a day). Returns how many patients.
 */
export function foldPiledUpCounts(db: DbOrTx, moreThan: number): Promise<number> {
  return foldCountsWhere(
    db,
    sql`patient_id in (select patient_id from biometrics_counts group by patient_id having count(*) > ${moreThan})`,
  );
}

function toRow(r: Record<string, unknown>): ReadingRow {
  return {
    id: Number(r.id),
    patientId: Number(r.patient_id),
    type: r.type as ReadingType,
    value: Number(r.value),
    unit: String(r.unit),
    timestamp: r.timestamp instanceof Date ? r.timestamp : new Date(String(r.timestamp)),
  };
}

/**
 * What both single-reading upserts share: a changed value or unit is written (an identical
 * one is left alone, so nothing is buffered for it), and a written row's hour goes to the
 * change buffer.
 */
const ON_CONFLICT_UPDATE = sql`on conflict (patient_id, type, timestamp) do update
        set value = excluded.value, unit = excluded.unit, updated_at = now()
        where biometrics.value is distinct from excluded.value or biometrics.unit is distinct from excluded.unit
      returning id, patient_id, type, value, unit, timestamp`;
const BUFFER_WRITTEN = sql`buf as (
      insert into biometrics_hourly (patient_id, type, bucket_start)
      select patient_id, type, date_trunc('hour', timestamp, 'UTC') from up
    )`;

/** The statement of {@link upsertReading}, compiled once. */
const upsertStatement = rawStatement<{
  patientId: number;
  type: ReadingType;
  value: number;
  unit: string;
  timestamp: string;
}>(
  'biometrics_upsert',
  sql`
    with up as (
      insert into biometrics (patient_id, type, value, unit, timestamp)
      values (${sql.placeholder('patientId')}, ${sql.placeholder('type')}, ${sql.placeholder('value')}, ${sql.placeholder('unit')}, ${sql.placeholder('timestamp')}::timestamptz)
      ${ON_CONFLICT_UPDATE}
    ), ${BUFFER_WRITTEN}
    select id, patient_id, type, value, unit, timestamp, true as changed from up
    union all
    select id, patient_id, type, value, unit, timestamp, false as changed from biometrics
    where patient_id = ${sql.placeholder('patientId')} and type = ${sql.placeholder('type')} and timestamp = ${sql.placeholder('timestamp')}::timestamptz
      and not exists (select 1 from up)`,
);

/**
 * The statement of {@link upsertReading} for systolic and diastolic: the same upsert,
 * guarded in the same round trip by the stored partner at the same patient and time. When
 * the partner would make the pair inverted (diastolic at or above systolic), nothing is
 * written and the one row returned carries the partner's value. Glucose and weight keep
 * the unguarded statement, so they pay nothing for it.
 */
const upsertBpStatement = rawStatement<{
  patientId: number;
  type: ReadingType;
  partnerType: ReadingType;
  value: number;
  unit: string;
  timestamp: string;
}>(
  'biometrics_upsert_bp',
  sql`
    with bad as (
      select value from biometrics
      where patient_id = ${sql.placeholder('patientId')}::int and type = ${sql.placeholder('partnerType')}::text
        and timestamp = ${sql.placeholder('timestamp')}::timestamptz
        and case when ${sql.placeholder('type')}::text = 'systolic'
              then value >= ${sql.placeholder('value')}::float8
              else value <= ${sql.placeholder('value')}::float8 end
    ), up as (
      insert into biometrics (patient_id, type, value, unit, timestamp)
      select ${sql.placeholder('patientId')}::int, ${sql.placeholder('type')}::text, ${sql.placeholder('value')}::float8,
        ${sql.placeholder('unit')}::text, ${sql.placeholder('timestamp')}::timestamptz
      where not exists (select 1 from bad)
      ${ON_CONFLICT_UPDATE}
    ), ${BUFFER_WRITTEN}
    select id, patient_id, type, value, unit, timestamp, true as changed, null::float8 as partner from up
    union all
    select id, patient_id, type, value, unit, timestamp, false as changed, null::float8 as partner from biometrics
    where patient_id = ${sql.placeholder('patientId')}::int and type = ${sql.placeholder('type')}::text
      and timestamp = ${sql.placeholder('timestamp')}::timestamptz
      and not exists (select 1 from up) and not exists (select 1 from bad)
    union all
    select null, null, null, null, null, null, false, value from bad`,
);

/**
 * Inserts or updates one reading and records the bucket in the change buffer when the
 * stored value changed. Returns the stored row and whether it changed; for a systolic or
 * diastolic value that would invert the pair stored at its time, nothing is written and
 * the stored partner's value comes back instead.
 */
export async function upsertReading(
  db: DbOrTx,
  r: { patientId: number; type: ReadingType; value: number; unit: string; timestamp: Date },
): Promise<{ row: ReadingRow; changed: boolean } | { partnerValue: number } | undefined> {
  const values = {
    patientId: r.patientId,
    type: r.type,
    value: r.value,
    unit: r.unit,
    timestamp: r.timestamp.toISOString(),
  };
  const partnerType = BP_PARTNER[r.type];
  const rows = partnerType
    ? await upsertBpStatement.rows(db, { ...values, partnerType })
    : await upsertStatement.rows(db, values);
  const first = rows[0];
  if (!first) return undefined;
  if (first.partner !== null && first.partner !== undefined) return { partnerValue: Number(first.partner) };
  return { row: toRow(first), changed: first.changed === true };
}

/** One reading by id, or undefined when absent. */
export async function findReading(db: DbOrTx, id: number): Promise<ReadingRow | undefined> {
  const [row] = await db.select(readingColumns).from(biometrics).where(eq(biometrics.id, id)).limit(1);
  return row as ReadingRow | undefined;
}

export async function findReadingForUpsertRace(
  db: DbOrTx,
  r: { patientId: number; type: ReadingType; timestamp: Date },
): Promise<ReadingRow | undefined> {
  const [row] = await db
    .select(readingColumns)
    .from(biometrics)
    .where(
      and(eq(biometrics.patientId, r.patientId), eq(biometrics.type, r.type), eq(biometrics.timestamp, r.timestamp)),
    )
    .limit(1);
  return row as ReadingRow | undefined;
}

/**
 * Deletes a reading (only among `scope` patients when given) and records its bucket in
 * the change buffer. Returns the deleted row's patient, or undefined when absent.
 */
export async function deleteReading(
  db: DbOrTx,
  id: number,
  scope: number[] | null,
): Promise<{ id: number; patientId: number } | undefined> {
  const scopeSql = scope === null ? sql`true` : sql`patient_id = any(${sql.param(scope)}::int[])`;
  const rows = await queryRows(
    db,
    sql`
    with d as (
      delete from biometrics where id = ${id} and ${scopeSql}
      returning id, patient_id, type, timestamp
    ), buf as (
      insert into biometrics_hourly (patient_id, type, bucket_start)
      select patient_id, type, date_trunc('hour', timestamp, 'UTC') from d
    )
    select id, patient_id from d`,
  );
  const row = rows[0];
  return row ? { id: Number(row.id), patientId: Number(row.patient_id) } : undefined;
}
