/** Drizzle access to the analytics store (reads). */
import { type SQL, sql } from 'drizzle-orm';
import { type DbOrTx, queryRows } from '../../db/database.js';
import type { ReadingType } from '../../domain/readings.js';

export interface AnalyticsFilter {
  /** Restrict to these patients (key scope); null means all. */
  scope: number[] | null;
  patientId?: number | undefined;
  type?: ReadingType | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
}

/** One stored bucket; instants as epoch milliseconds (cheaper to read than dates). */
export interface AnalyticsBucketRow {
  patientId: number;
  type: ReadingType;
  bucketStartMs: number;
  computedAtMs: number;
  min: number;
  max: number;
  sum: number;
  count: number;
}

function bucketWhere(f: AnalyticsFilter): SQL {
  const parts: SQL[] = [sql`true`];
  if (f.scope !== null) parts.push(sql`a.patient_id = any(${sql.param(f.scope)}::int[])`);
  if (f.patientId !== undefined) parts.push(sql`a.patient_id = ${f.patientId}`);
  if (f.type !== undefined) parts.push(sql`a.type = ${f.type}`);
  if (f.from !== undefined) parts.push(sql`a.bucket_start >= ${f.from.toISOString()}::timestamptz`);
  if (f.to !== undefined) parts.push(sql`a.bucket_start < ${f.to.toISOString()}::timestamptz`);
  return sql.join(parts, sql` and `);
}

/**
 * Buckets matching the filter, newest first, then by patient and type; `window` counts
 * buckets. One row per bucket (not per metric), with instants as numbers: on a long
 * history the driver's parsing of rows and dates is what costs, not the query.
 */
export async function listBuckets(
  db: DbOrTx,
  f: AnalyticsFilter,
  window: { limit: number; offset: number },
): Promise<AnalyticsBucketRow[]> {
  const rows = await queryRows(
    db,
    sql`
    select a.patient_id, a.type, a.min, a.max, a.sum, a.count,
      floor(extract(epoch from a.bucket_start) * 1000)::float8 as bucket_start_ms,
      floor(extract(epoch from a.computed_at) * 1000)::float8 as computed_at_ms
    from analytics a where ${bucketWhere(f)}
    order by a.bucket_start desc nulls last, a.patient_id, a.type
    limit ${window.limit} offset ${window.offset}`,
  );
  return rows.map((x) => ({
    patientId: Number(x.patient_id),
    type: x.type as ReadingType,
    bucketStartMs: Number(x.bucket_start_ms),
    computedAtMs: Number(x.computed_at_ms),
    min: Number(x.min),
    max: Number(x.max),
    sum: Number(x.sum),
    count: Number(x.count),
  }));
}

/** Number of buckets matching the filter. */
export async function countBuckets(db: DbOrTx, f: AnalyticsFilter): Promise<number> {
  const rows = await queryRows(db, sql`select count(*)::int8 as n from analytics a where ${bucketWhere(f)}`);
  return Number(rows[0]?.n ?? 0);
}
