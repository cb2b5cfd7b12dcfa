/** Drizzle access to the analytics store (reads). */
import { type SQL, sql } from 'drizzle-orm';
import { type DbOrTx, queryRows } from '../../db/database.js';
import type { ReadingType } from '../../domain/readings.js';
import type { Stat } from './analytics.schemas.js';

export interface AnalyticsFilter {
  /** Restrict to these patients (key scope); null means all. */
  scope: number[] | null;
  patientId?: number | undefined;
  type?: ReadingType | undefined;
  stat?: Stat | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
}

export interface AnalyticsMetricRow {
  patientId: number;
  type: ReadingType;
  stat: Stat;
  value: number;
  count: number;
  bucketStart: Date;
  computedAt: Date;
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

/** One item per (bucket, stat), newest bucket first; with the total item count. */
export async function listMetrics(
  db: DbOrTx,
  f: AnalyticsFilter,
  limit: number,
  offset: number,
): Promise<{ rows: AnalyticsMetricRow[]; total: number }> {
  const w = bucketWhere(f);
  const stats = f.stat ? [f.stat] : ['min', 'max', 'avg'];
  const statValues = sql.join(
    stats.map((s, i) => {
      const expr = s === 'avg' ? sql`a.sum / a.count` : s === 'min' ? sql`a.min` : sql`a.max`;
      return sql`(${s}::text, ${i}::int, ${expr})`;
    }),
    sql`, `,
  );
  const [page, total] = await Promise.all([
    queryRows(
      db,
      sql`
      select a.patient_id, a.type, m.stat, m.value, a.count, a.bucket_start, a.computed_at
      from (
        select * from analytics a where ${w}
        order by a.bucket_start desc nulls last, a.patient_id, a.type
        limit ${Math.ceil((limit + offset) / stats.length) + 1}
      ) a
      cross join lateral (values ${statValues}) as m(stat, ord, value)
      order by a.bucket_start desc nulls last, a.patient_id, a.type, m.ord
      limit ${limit} offset ${offset}`,
    ),
    queryRows(db, sql`select count(*)::int8 as n from analytics a where ${w}`),
  ]);
  const rows = page.map((x) => {
    return {
      patientId: Number(x.patient_id),
      type: x.type as ReadingType,
      stat: x.stat as Stat,
      value: Number(x.value),
      count: Number(x.count),
      bucketStart: x.bucket_start instanceof Date ? x.bucket_start : new Date(String(x.bucket_start)),
      computedAt: x.computed_at instanceof Date ? x.computed_at : new Date(String(x.computed_at)),
    };
  });
  const n = Number(total[0]?.n ?? 0);
  return { rows, total: n * stats.length };
}
