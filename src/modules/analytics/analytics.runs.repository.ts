/** Drizzle access to `analytics_runs`, the record of every analytics job run. */
import { and, count, desc, eq, gte } from 'drizzle-orm';
import type { DbOrTx } from '../../db/database.js';
import { analyticsRuns } from '../../db/schema.js';

export type RunTrigger = 'scheduled' | 'manual' | 'startup';
export type RunStatus = 'succeeded' | 'failed';

/** One recorded run. */
export interface AnalyticsRunRow {
  id: number;
  version: 1 | 2;
  trigger: RunTrigger;
  instance: string;
  status: RunStatus;
  startedAt: Date;
  finishedAt: Date | null;
  bucketsTouched: number;
  rowsConsumed: number;
  error: string | null;
}

export type NewAnalyticsRun = Omit<AnalyticsRunRow, 'id'>;

function toRow(r: typeof analyticsRuns.$inferSelect): AnalyticsRunRow {
  return {
    id: r.id,
    version: r.version === 2 ? 2 : 1,
    trigger: r.trigger as RunTrigger,
    instance: r.instance,
    status: r.status as RunStatus,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    bucketsTouched: r.bucketsTouched,
    rowsConsumed: r.rowsConsumed,
    error: r.error,
  };
}

/** Records a run and returns it with its id. */
export async function insertRun(db: DbOrTx, run: NewAnalyticsRun): Promise<AnalyticsRunRow> {
  const [row] = await db.insert(analyticsRuns).values(run).returning();
  if (!row) throw new Error('insert into analytics_runs returned no row');
  return toRow(row);
}

/** Runs, newest first, with the total count. */
export async function listRuns(
  db: DbOrTx,
  limit: number,
  offset: number,
): Promise<{ rows: AnalyticsRunRow[]; total: number }> {
  const [rows, totals] = await Promise.all([
    db
      .select()
      .from(analyticsRuns)
      .orderBy(desc(analyticsRuns.startedAt), desc(analyticsRuns.id))
      .limit(limit)
      .offset(offset),
    db.select({ n: count() }).from(analyticsRuns),
  ]);
  return { rows: rows.map(toRow), total: Number(totals[0]?.n ?? 0) };
}

/**
 * Whether a run that started at or after `since` has succeeded: its snapshot already
 * includes every change committed before `since`, so a scheduled tick at `since` has nothing
 * left to do.
 */
export async function succeededRunSince(db: DbOrTx, since: Date): Promise<boolean> {
  const rows = await db
    .select({ id: analyticsRuns.id })
    .from(analyticsRuns)
    .where(and(eq(analyticsRuns.status, 'succeeded'), gte(analyticsRuns.startedAt, since)))
    .limit(1);
  return rows.length > 0;
}
