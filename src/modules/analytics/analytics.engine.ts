/**
 * The two analytics engines, as set-based SQL run inside the caller's transaction (the job
 * runner opens it, under READ COMMITTED, and holds the advisory lock). See docs/DESIGN.md,
 * "Analytics", for why nothing is lost or counted twice.
 *
 * - v1 recomputes every bucket from `biometrics` and consumes the change buffer rows
 *   visible to the same statement.
 * - v2 consumes the change buffer, then recomputes only the buckets it names, each with an
 *   index range scan on (patient_id, type, timestamp).
 *
 * Both write only what differs: new buckets are inserted, changed ones updated, buckets
 * that lost all their readings deleted; identical rows are left alone (so `computed_at`
 * says when a bucket's values last changed).
 */
import { type SQL, sql } from 'drizzle-orm';
import { type DbOrTx, queryRows } from '../../db/database.js';

/** What one engine pass did. */
export interface EngineStats {
  /** Change-buffer rows deleted (consumed). */
  rowsConsumed: number;
  /** v2: the distinct buckets the buffer named and that were recomputed. */
  bucketsRecomputed?: number;
  /** Analytics rows inserted or updated because their values changed. */
  upserted: number;
  /** Analytics rows deleted because their bucket has no readings any more. */
  deleted: number;
}

/** Test seams: called at fixed points of a run, inside its transaction. */
export interface EngineHooks {
  /** v2 only: after the buffer rows were consumed, before the buckets are recomputed. */
  afterConsume?: () => Promise<void>;
}

const int = (v: unknown): number => Number(v ?? 0);

/**
 * Which buckets to write: a bucket's fresh aggregate `g` (all null when it has no readings)
 * against its stored row `a` (all null when there is none). Equal rows, and buckets with
 * neither readings nor a row, drop out.
 */
const DIFFERS = sql`(a.min, a.max, a.sum, a.count) is distinct from (g.min, g.max, g.sum, g.count)`;

/**
 * The write half both engines share, as CTEs over `diff` (key, fresh aggregate with a null
 * count for an emptied bucket, `stored_at` = the stored row's address or null, `is_new`).
 * New buckets go in with a plain INSERT: a duplicate could only come from an overlapping
 * run, which the advisory lock excludes, and would abort this one on the primary key.
 * Changed and emptied buckets are updated or deleted by the row address the diff read in
 * this same statement (no second lookup, no join over the store); no one else updates
 * analytics rows, and an erase of their patient cannot run meanwhile (see the locks).
 * `writable` limits inserts and updates to patients the run has locked.
 */
function applyDiff(now: Date, writable: SQL): SQL {
  const computedAt = sql`${now.toISOString()}::timestamptz`;
  return sql`
    ins as (
      insert into analytics (patient_id, type, bucket_start, min, max, sum, count, computed_at)
      select d.patient_id, d.type, d.bucket_start, d.min, d.max, d.sum, d.count, ${computedAt}
      from diff d where d.is_new and d.count is not null and ${writable}
      returning 1
    ), upd as (
      update analytics a
      set min = d.min, max = d.max, sum = d.sum, count = d.count, computed_at = ${computedAt}
      from diff d where a.ctid = d.stored_at and d.count is not null and ${writable}
      returning 1
    ), del as (
      delete from analytics
      where ctid = any (array(select stored_at from diff where count is null and stored_at is not null))
      returning 1
    )`;
}

/**
 * v1: recompute every bucket from `biometrics` in one statement (one snapshot). The
 * aggregate is full-joined with the stored rows, so only differing buckets are written and
 * vanished buckets deleted; the buffer rows this snapshot sees describe changes the
 * recompute already includes, so they are consumed here too.
 *
 * The patients whose buckets are inserted or updated are key-share locked before any write
 * (the writes read `locked`), and a patient erased meanwhile is skipped: the erase's
 * cascade owns those rows, so the run neither fails a foreign-key check nor deadlocks with
 * the erase.
 */
export async function recomputeAll(tx: DbOrTx, now: Date): Promise<EngineStats> {
  const [r] = await queryRows(
    tx,
    sql`
    with buffered as (
      -- As in v2: patients named by the buffer are locked before their rows are consumed,
      -- in the erase's order (patient, then buffer rows), so an erase waits, not deadlocks.
      select id from patients where id in (select patient_id from biometrics_hourly) for key share
    ), consumed as (
      delete from biometrics_hourly where (select count(*) from buffered) >= 0 returning 1
    ), g as (
      select patient_id, type, date_trunc('hour', timestamp, 'UTC') as bucket_start,
             min(value) as min, max(value) as max, sum(value) as sum, count(*)::int as count
      from biometrics
      group by 1, 2, 3
    ), diff as materialized (
      select coalesce(g.patient_id, a.patient_id) as patient_id, coalesce(g.type, a.type) as type,
             coalesce(g.bucket_start, a.bucket_start) as bucket_start,
             g.min, g.max, g.sum, g.count, a.ctid as stored_at, a.count is null as is_new
      from g
      full join analytics a
        on a.patient_id = g.patient_id and a.type = g.type and a.bucket_start = g.bucket_start
      where ${DIFFERS}
    ), locked as (
      select id from patients where id in (select patient_id from diff where count is not null) for key share
    ), ${applyDiff(now, sql`d.patient_id in (select id from locked)`)}
    select (select count(*) from consumed) as consumed,
           (select count(*) from ins) + (select count(*) from upd) as upserted,
           (select count(*) from del) as deleted`,
  );
  return { rowsConsumed: int(r?.consumed), upserted: int(r?.upserted), deleted: int(r?.deleted) };
}

/**
 * v2: consume the change buffer, then recompute the buckets it named, in the caller's
 * transaction: the consume statement's snapshot decides which buffer rows this run owns;
 * the recompute is a later statement with a later snapshot, so it sees at least every
 * change those rows describe. Rows committed after the consume stay in the buffer for the
 * next run.
 */
export async function applyBufferedChanges(tx: DbOrTx, now: Date, hooks: EngineHooks = {}): Promise<EngineStats> {
  await ensureWorkTable(tx);
  // Key-share locks on the patients the buffer names come first, then the consume (the
  // one-time filter makes the DELETE wait for `locked`). An erase already under way
  // finishes first (and the recompute then sees its readings gone); a later one waits for
  // this run. Without them, a new bucket's foreign-key check could meet a half-erased
  // patient and fail the run, or deadlock with the erase's cascade. Locking before
  // deleting takes the locks in the erase's order (patient, then buffer rows), so an erase
  // arriving mid-run waits instead of deadlocking on a consumed buffer row.
  const [c] = await queryRows(
    tx,
    sql`
    with locked as (
      select id from patients where id in (select patient_id from biometrics_hourly) for key share
    ), consumed as (
      delete from biometrics_hourly where (select count(*) from locked) >= 0
      returning patient_id, type, bucket_start
    ), work as (
      insert into pg_temp.analytics_work (patient_id, type, bucket_start)
      -- Normalised again so a hand-written buffer row with an odd bucket_start still names its
      -- hour; sorted so the recompute walks the indexes in order.
      select distinct patient_id, type, date_trunc('hour', bucket_start, 'UTC') from consumed
      order by 1, 2, 3
      returning 1
    )
    select (select count(*) from consumed) as consumed, (select count(*) from work) as buckets`,
  );
  const consumed = int(c?.consumed);
  const buckets = int(c?.buckets);
  await hooks.afterConsume?.();
  if (buckets === 0) return { rowsConsumed: consumed, bucketsRecomputed: 0, upserted: 0, deleted: 0 };

  // Per-bucket lookups, whatever the estimates: the work table has no statistics, and with
  // some 20,000 rows the planner switched to hash joins that read all of `analytics`
  // (and to a hash join for the update by row address), a cost that grows with the store,
  // not with the changes. JIT compilation would cost more than it saves on these plans.
  // Transaction-local: the run's transaction ends right after.
  await queryRows(
    tx,
    sql`select set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true),
               set_config('jit', 'off', true)`,
  );
  const [r] = await queryRows(
    tx,
    sql`
    with diff as materialized (
      select w.patient_id, w.type, w.bucket_start, g.min, g.max, g.sum, g.count,
             a.ctid as stored_at, a.count is null as is_new
      from pg_temp.analytics_work w
      cross join lateral (
        select min(b.value) as min, max(b.value) as max, sum(b.value) as sum,
               nullif(count(*), 0)::int as count
        from biometrics b
        where b.patient_id = w.patient_id and b.type = w.type
          and b.timestamp >= w.bucket_start and b.timestamp < w.bucket_start + interval '1 hour'
      ) g
      left join analytics a
        on a.patient_id = w.patient_id and a.type = w.type and a.bucket_start = w.bucket_start
      where ${DIFFERS}
    ), ${applyDiff(now, sql`true`)}
    select (select count(*) from ins) + (select count(*) from upd) as upserted,
           (select count(*) from del) as deleted`,
  );
  return { rowsConsumed: consumed, bucketsRecomputed: buckets, upserted: int(r?.upserted), deleted: int(r?.deleted) };
}

/**
 * The per-session scratch table holding the buckets one v2 run recomputes. Created once per
 * connection and emptied at every commit or rollback, so runs never see each other's rows
 * and a transaction that does not touch it pays nothing.
 */
async function ensureWorkTable(tx: DbOrTx): Promise<void> {
  const [t] = await queryRows(tx, sql`select to_regclass('pg_temp.analytics_work') is not null as ok`);
  if (t?.ok === true) return;
  await queryRows(
    tx,
    sql`create temp table analytics_work (
      patient_id integer not null, type text not null, bucket_start timestamptz not null
    ) on commit delete rows`,
  );
}

/** One bucket as a from-scratch computation sees it. */
export interface ComputedBucket {
  patientId: number;
  type: string;
  bucketStart: Date;
  min: number;
  max: number;
  sum: number;
  count: number;
}

const toDate = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));

function toBucket(r: Record<string, unknown>): ComputedBucket {
  return {
    patientId: Number(r.patient_id),
    type: String(r.type),
    bucketStart: toDate(r.bucket_start),
    min: Number(r.min),
    max: Number(r.max),
    sum: Number(r.sum),
    count: Number(r.count),
  };
}

/**
 * What a v1 recompute would store for these patients, computed without writing anything
 * (verification and tests). Ordered by patient, type, bucket.
 */
export async function computeFromReadings(db: DbOrTx, patientIds: number[]): Promise<ComputedBucket[]> {
  const rows = await queryRows(
    db,
    sql`
    select patient_id, type, date_trunc('hour', timestamp, 'UTC') as bucket_start,
           min(value) as min, max(value) as max, sum(value) as sum, count(*)::int as count
    from biometrics where patient_id = any(${sql.param(patientIds)}::int[])
    group by 1, 2, 3 order by 1, 2, 3`,
  );
  return rows.map(toBucket);
}

/** The stored analytics rows of these patients, ordered by patient, type, bucket. */
export async function storedBuckets(db: DbOrTx, patientIds: number[]): Promise<ComputedBucket[]> {
  const rows = await queryRows(
    db,
    sql`
    select patient_id, type, bucket_start, min, max, sum, count from analytics
    where patient_id = any(${sql.param(patientIds)}::int[]) order by 1, 2, 3`,
  );
  return rows.map(toBucket);
}
