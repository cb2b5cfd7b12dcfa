/**
 * The per-patient summary in one statement: a page (or all) of the matching patients,
 * each joined laterally to its latest reading of every type, its latest blood-pressure
 * pair (index probes on (patient_id, type, timestamp)), and its glucose counts over the
 * time-in-range window from one grouped pass; all as of `window.to` (the latest timestamp
 * a reading may be stored with, so every stored reading can be "latest").
 */
import { type SQL, sql } from 'drizzle-orm';
import { type DbOrTx, queryRows } from '../../db/database.js';
import { GLUCOSE_BOUNDS } from '../../domain/clinical.js';

export interface SummaryFilter {
  /** Key scope; null means all patients. */
  scope: number[] | null;
  /** Only these patients (a single-patient summary). */
  ids?: number[] | undefined;
  search?: string | undefined;
}

export interface LatestRow {
  id: number;
  value: number;
  unit: string;
  timestamp: Date;
}

export interface SummaryRow {
  id: number;
  name: string;
  dob: string;
  gender: string;
  email: string;
  latest: {
    glucose: LatestRow | null;
    systolic: LatestRow | null;
    diastolic: LatestRow | null;
    weight: LatestRow | null;
  };
  bp: { systolic: number; diastolic: number; timestamp: Date } | null;
  range: { readings: number; inRange: number; below: number; above: number };
}

/** Page in SQL (sorted by name or id), or undefined to return every matching patient. */
export type SummaryPaging = { order: 'name' | 'id'; limit: number; offset: number } | undefined;

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function patientWhere(f: SummaryFilter): SQL {
  const parts: SQL[] = [sql`true`];
  if (f.scope !== null) parts.push(sql`p.id = any(${sql.param(f.scope)}::int[])`);
  if (f.ids !== undefined) parts.push(sql`p.id = any(${sql.param(f.ids)}::int[])`);
  if (f.search) {
    const pattern = `%${escapeLike(f.search)}%`;
    parts.push(sql`(p.name ilike ${pattern} or p.email ilike ${pattern})`);
  }
  return sql.join(parts, sql` and `);
}

function orderBy(order: 'name' | 'id'): SQL {
  return order === 'name' ? sql`lower(p.name), p.id` : sql`p.id`;
}

function latest(alias: string, type: string, to: string): SQL {
  const a = sql.raw(alias);
  return sql`left join lateral (
      select b.id, b.value, b.unit, b.timestamp from biometrics b
      where b.patient_id = p.id and b.type = ${type} and b.timestamp < ${to}::timestamptz
      order by b.timestamp desc limit 1
    ) ${a} on true`;
}

const num = (v: unknown) => Number(v);
const date = (v: unknown) => (v instanceof Date ? v : new Date(String(v)));

function latestOf(r: Record<string, unknown>, prefix: string): LatestRow | null {
  if (r[`${prefix}_id`] === null || r[`${prefix}_id`] === undefined) return null;
  return {
    id: num(r[`${prefix}_id`]),
    value: num(r[`${prefix}_value`]),
    unit: String(r[`${prefix}_unit`]),
    timestamp: date(r[`${prefix}_ts`]),
  };
}

/** How many patients match the filter. */
export async function countMatching(db: DbOrTx, filter: SummaryFilter): Promise<number> {
  const [row] = await queryRows(db, sql`select count(*)::int8 as n from patients p where ${patientWhere(filter)}`);
  return num(row?.n ?? 0);
}

/** Summary rows for the matching patients; `total` counts all matches, not just the page. */
export async function summaryRows(
  db: DbOrTx,
  filter: SummaryFilter,
  window: { from: Date; to: Date },
  paging: SummaryPaging,
): Promise<{ rows: SummaryRow[]; total: number }> {
  const where = patientWhere(filter);
  const page = paging ? sql`order by ${orderBy(paging.order)} limit ${paging.limit} offset ${paging.offset}` : sql``;
  const from = window.from.toISOString();
  const to = window.to.toISOString();
  const rowsQuery = queryRows(
    db,
    sql`
    with p as (select p.id, p.name, p.dob, p.gender, p.email from patients p where ${where} ${page}),
    r as (
      -- One grouped pass: the planner picks index range scans for a page of patients and
      -- a single scan with a hash join when scoring a whole panel.
      select b.patient_id, count(*)::int8 as readings,
        -- The bounds of glucoseStatus (src/domain/clinical.ts), so the counts match the statuses.
        count(*) filter (where b.value >= ${GLUCOSE_BOUNDS.inRangeFrom} and b.value < ${GLUCOSE_BOUNDS.aboveFrom})::int8 as in_range,
        count(*) filter (where b.value < ${GLUCOSE_BOUNDS.inRangeFrom})::int8 as below,
        count(*) filter (where b.value >= ${GLUCOSE_BOUNDS.aboveFrom})::int8 as above
      from biometrics b
      where b.patient_id in (select id from p) and b.type = 'glucose'
        and b.timestamp >= ${from}::timestamptz and b.timestamp < ${to}::timestamptz
      group by b.patient_id
    )
    select p.id, p.name, p.dob::text as dob, p.gender, p.email,
      g.id as g_id, g.value as g_value, g.unit as g_unit, g.timestamp as g_ts,
      s.id as s_id, s.value as s_value, s.unit as s_unit, s.timestamp as s_ts,
      d.id as d_id, d.value as d_value, d.unit as d_unit, d.timestamp as d_ts,
      w.id as w_id, w.value as w_value, w.unit as w_unit, w.timestamp as w_ts,
      bp.systolic as bp_systolic, bp.diastolic as bp_diastolic, bp.timestamp as bp_ts,
      coalesce(r.readings, 0) as readings, coalesce(r.in_range, 0) as in_range,
      coalesce(r.below, 0) as below, coalesce(r.above, 0) as above
    from p
    left join r on r.patient_id = p.id
    ${latest('g', 'glucose', to)}
    ${latest('s', 'systolic', to)}
    ${latest('d', 'diastolic', to)}
    ${latest('w', 'weight', to)}
    left join lateral (
      select bs.value as systolic, bd.value as diastolic, bs.timestamp
      from biometrics bs
      join biometrics bd on bd.patient_id = bs.patient_id and bd.type = 'diastolic' and bd.timestamp = bs.timestamp
      where bs.patient_id = p.id and bs.type = 'systolic' and bs.timestamp < ${to}::timestamptz
      order by bs.timestamp desc limit 1
    ) bp on true
    ${paging ? sql`order by ${orderBy(paging.order)}` : sql``}`,
  );
  const countQuery = paging ? countMatching(db, filter) : Promise.resolve(undefined);
  const [raw, counted] = await Promise.all([rowsQuery, countQuery]);
  const rows = raw.map(
    (r): SummaryRow => ({
      id: num(r.id),
      name: String(r.name),
      dob: String(r.dob),
      gender: String(r.gender),
      email: String(r.email),
      latest: {
        glucose: latestOf(r, 'g'),
        systolic: latestOf(r, 's'),
        diastolic: latestOf(r, 'd'),
        weight: latestOf(r, 'w'),
      },
      bp:
        r.bp_ts === null || r.bp_ts === undefined
          ? null
          : { systolic: num(r.bp_systolic), diastolic: num(r.bp_diastolic), timestamp: date(r.bp_ts) },
      range: { readings: num(r.readings), inRange: num(r.in_range), below: num(r.below), above: num(r.above) },
    }),
  );
  return { rows, total: counted ?? rows.length };
}
