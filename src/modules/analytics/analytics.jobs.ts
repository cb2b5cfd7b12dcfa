/**
 * The analytics job: one engine pass in one transaction, serialized across instances by a
 * PostgreSQL advisory lock and within a process by an in-flight guard, recorded in
 * `analytics_runs` atomically with its effect.
 */
import { sql } from 'drizzle-orm';
import { type Db, queryRows } from '../../db/database.js';
import { foldPiledUpReadingCounts } from '../biometrics/biometrics.service.js';
import type { AppMetrics } from '../metrics/metrics.registry.js';
import { applyBufferedChanges, type EngineHooks, type EngineStats, recomputeAll } from './analytics.engine.js';
import { type AnalyticsRunRow, insertRun, type RunTrigger, succeededRunSince } from './analytics.runs.repository.js';

type LogFn = (obj: Record<string, unknown>, msg: string) => void;

/** The logging the job needs (a pino or Fastify logger fits). Never given PHI. */
export interface JobLog {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

/** Explicit dependencies of the job (no Fastify, so the CLI and the scheduler reuse it). */
export interface AnalyticsJobDeps {
  db: Db;
  log: JobLog;
  now: () => Date;
  /** Recorded on each run: which process ran it. */
  instanceId: string;
  /**
   * Where each attempt's outcome and duration are counted (the server's Prometheus
   * metrics). The one-shot CLI has no metrics endpoint and passes none.
   */
  metrics?: Pick<AppMetrics, 'observeAnalyticsRun'>;
}

export interface RunOptions {
  version: 1 | 2;
  trigger: RunTrigger;
  /**
   * Scheduled runs: the tick's time. Once the lock is held, the run is skipped (outcome
   * `covered`) when a run that started at or after it has already succeeded, so instances
   * whose timers fire a moment apart do not each run the same tick one after the other.
   */
  tickAt?: Date;
  /** Test seams. */
  hooks?: EngineHooks & {
    /** Called once the advisory lock is held, before the engine starts. */
    onLocked?: () => Promise<void>;
  };
}

/**
 * A run happened (and was recorded); or nothing was done because another run held the lock
 * (`busy`) or a run since the tick's time already did the work (`covered`).
 */
export type JobOutcome =
  | { ran: true; run: AnalyticsRunRow; stats?: EngineStats }
  | { ran: false; reason: 'busy' | 'covered' };

/** Advisory lock key shared by every instance for analytics runs ("PPAN"). */
export const ANALYTICS_LOCK_KEY = 0x5050414e;

const MAX_ERROR_LENGTH = 500;

/**
 * Runs in flight per database handle. PGlite is one session, where advisory locks are
 * re-entrant, so this guard is what stops overlapping runs there; on PostgreSQL it also
 * saves a pool connection. Keyed by handle, so separate databases never interfere.
 */
const inFlight = new WeakMap<Db, Promise<JobOutcome>>();

/** Resolves once no run is in flight on `db` (a run finishes or rolls back; none is cut off). */
export async function waitForAnalyticsIdle(db: Db): Promise<void> {
  for (let p = inFlight.get(db); p; p = inFlight.get(db)) {
    await p.catch(() => undefined);
  }
}

/** A message safe to store and show to admins: the database's own message, without SQL or parameters. */
function describeError(err: unknown): string {
  const cause = (err as { cause?: unknown })?.cause;
  const base = cause instanceof Error ? cause : err instanceof Error ? err : new Error(String(err));
  const code = (base as { code?: unknown }).code;
  const text = typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? `${code}: ${base.message}` : base.message;
  return text.length > MAX_ERROR_LENGTH ? `${text.slice(0, MAX_ERROR_LENGTH - 1)}…` : text;
}

/**
 * Runs the analytics job once. Returns `{ ran: false }` without touching anything when
 * another run holds the lock (in this process or any other instance). A failed run is
 * rolled back entirely and recorded as `failed`; the function throws only when even that
 * record cannot be written.
 */
export function runAnalyticsJob(deps: AnalyticsJobDeps, opts: RunOptions): Promise<JobOutcome> {
  if (inFlight.has(deps.db)) {
    deps.log.debug({ trigger: opts.trigger }, 'analytics run skipped: another run is in progress in this process');
    deps.metrics?.observeAnalyticsRun({ version: opts.version, status: 'skipped', durationSeconds: 0 });
    return Promise.resolve({ ran: false, reason: 'busy' });
  }
  const p = observed(deps, opts).finally(() => inFlight.delete(deps.db));
  inFlight.set(deps.db, p);
  return p;
}

/** Runs the job and counts its outcome: skipped, succeeded, or failed (also when even the failure record failed). */
async function observed(deps: AnalyticsJobDeps, opts: RunOptions): Promise<JobOutcome> {
  const t0 = performance.now();
  const observe = (status: 'succeeded' | 'failed' | 'skipped') =>
    deps.metrics?.observeAnalyticsRun({
      version: opts.version,
      status,
      durationSeconds: (performance.now() - t0) / 1000,
    });
  try {
    const outcome = await execute(deps, opts);
    observe(outcome.ran ? outcome.run.status : 'skipped');
    return outcome;
  } catch (err) {
    observe('failed');
    throw err;
  }
}

/**
 * Housekeeping after a run: reading-count deltas of patients whose readings are written
 * but not read pile up (history reads fold only the patients they read). Outside the
 * run's transaction and not part of its recorded duration; a failure only waits for the
 * next run.
 */
async function foldCounts(deps: AnalyticsJobDeps): Promise<void> {
  try {
    const patients = await foldPiledUpReadingCounts(deps.db);
    if (patients > 0) deps.log.debug({ patients }, 'folded piled-up reading counts');
  } catch (err) {
    deps.log.warn({ error: describeError(err) }, 'could not fold reading counts');
  }
}

async function execute(deps: AnalyticsJobDeps, opts: RunOptions): Promise<JobOutcome> {
  const { version, trigger } = opts;
  const base = { version, trigger, instance: deps.instanceId };
  const startedAt = deps.now();
  const t0 = performance.now();
  let stats: EngineStats | undefined;
  let skipped: 'busy' | 'covered' = 'busy';
  try {
    const run = await deps.db.transaction(async (tx) => {
      // A full recompute may outlast the pool's per-statement timeout, which is meant for requests.
      const [lock] = await queryRows(
        tx,
        sql`select set_config('statement_timeout', '0', true), pg_try_advisory_xact_lock(${ANALYTICS_LOCK_KEY}) as ok`,
      );
      if (lock?.ok !== true) return undefined;
      if (opts.tickAt && (await succeededRunSince(tx, opts.tickAt))) {
        skipped = 'covered';
        return undefined;
      }
      await opts.hooks?.onLocked?.();
      stats = version === 1 ? await recomputeAll(tx, startedAt) : await applyBufferedChanges(tx, startedAt, opts.hooks);
      // Recorded in the same transaction: a succeeded record exists exactly when the work committed.
      return insertRun(tx, {
        ...base,
        status: 'succeeded',
        startedAt,
        finishedAt: deps.now(),
        bucketsTouched: stats.upserted + stats.deleted,
        rowsConsumed: stats.rowsConsumed,
        error: null,
      });
    });
    if (!run) {
      deps.log.debug(
        { trigger, reason: skipped },
        skipped === 'busy'
          ? 'analytics run skipped: another instance holds the lock'
          : 'analytics run skipped: a run since this tick already succeeded',
      );
      return { ran: false, reason: skipped };
    }
    deps.log.info(
      { runId: run.id, version, trigger, ...stats, ms: Math.round(performance.now() - t0) },
      'analytics run succeeded',
    );
    await foldCounts(deps);
    return { ran: true, run, ...(stats ? { stats } : {}) };
  } catch (err) {
    const error = describeError(err);
    deps.log.error({ version, trigger, error }, 'analytics run failed and was rolled back');
    let run: AnalyticsRunRow;
    try {
      run = await insertRun(deps.db, {
        ...base,
        status: 'failed',
        startedAt,
        finishedAt: deps.now(),
        bucketsTouched: 0,
        rowsConsumed: 0,
        error,
      });
    } catch {
      // The database itself is unreachable: report the original failure.
      throw err;
    }
    return { ran: true, run };
  }
}
