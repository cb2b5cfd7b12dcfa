/** Aggregates a patient's readings into hour or day buckets of a time zone. */
import { sql } from 'drizzle-orm';
import { type DbOrTx, queryRows } from '../../db/database.js';
import type { ReadingType } from '../../domain/readings.js';
import type { SeriesBucket } from './series.schemas.js';

export interface SeriesFilter {
  patientId: number;
  type?: ReadingType | undefined;
  from: Date;
  to: Date;
  bucket: SeriesBucket;
  tz: string;
}

export interface SeriesRow {
  type: ReadingType;
  bucketStart: Date;
  bucketEnd: Date;
  min: number;
  max: number;
  avg: number;
  count: number;
  unit: string;
}

const date = (v: unknown) => (v instanceof Date ? v : new Date(String(v)));

/** One row per (type, bucket) that has readings, ordered by type then time. */
export async function seriesRows(db: DbOrTx, f: SeriesFilter): Promise<SeriesRow[]> {
  // A day ends at the next local midnight (23 or 25 hours away across a DST change).
  const end =
    f.bucket === 'hour'
      ? sql`s.bucket_start + interval '1 hour'`
      : sql`((s.bucket_start at time zone ${f.tz}::text) + interval '1 day') at time zone ${f.tz}::text`;
  const rows = await queryRows(
    db,
    sql`
    select s.type, s.bucket_start, ${end} as bucket_end, s.min, s.max, s.avg, s.count, s.unit
    from (
      select b.type, date_trunc(${f.bucket}::text, b.timestamp, ${f.tz}::text) as bucket_start,
        min(b.value) as min, max(b.value) as max, avg(b.value) as avg, count(*)::int8 as count,
        min(b.unit) as unit
      from biometrics b
      where b.patient_id = ${f.patientId}
        ${f.type ? sql`and b.type = ${f.type}` : sql``}
        and b.timestamp >= ${f.from.toISOString()}::timestamptz and b.timestamp < ${f.to.toISOString()}::timestamptz
      group by 1, 2
    ) s
    order by s.type, s.bucket_start`,
  );
  return rows.map((r) => ({
    type: r.type as ReadingType,
    bucketStart: date(r.bucket_start),
    bucketEnd: date(r.bucket_end),
    min: Number(r.min),
    max: Number(r.max),
    avg: Number(r.avg),
    count: Number(r.count),
    unit: String(r.unit),
  }));
}
