/** Admin use cases for analytics job runs: trigger one, list them. */
import { AppError } from '../../domain/errors.js';
import { type AnalyticsJobDeps, runAnalyticsJob } from './analytics.jobs.js';
import * as repo from './analytics.runs.repository.js';
import type { AnalyticsRunDto, RunsQueryT } from './analytics.schemas.js';

/** Another run holds the lock; nothing was done. */
export class RunInProgressError extends AppError {
  constructor() {
    super('run_in_progress', 409, 'Another analytics run is in progress; try again when it has finished');
  }
}

export function toRunDto(r: repo.AnalyticsRunRow): AnalyticsRunDto {
  return {
    id: r.id,
    version: r.version,
    trigger: r.trigger,
    instance: r.instance,
    status: r.status,
    started_at: r.startedAt.toISOString(),
    finished_at: r.finishedAt ? r.finishedAt.toISOString() : null,
    buckets_touched: r.bucketsTouched,
    rows_consumed: r.rowsConsumed,
    error: r.error,
  };
}

/** Runs the job now on behalf of an admin; throws {@link RunInProgressError} when busy. */
export async function triggerRun(deps: AnalyticsJobDeps, version: 1 | 2): Promise<AnalyticsRunDto> {
  const outcome = await runAnalyticsJob(deps, { version, trigger: 'manual' });
  if (!outcome.ran) throw new RunInProgressError();
  return toRunDto(outcome.run);
}

export async function listRuns(
  deps: Pick<AnalyticsJobDeps, 'db'>,
  q: RunsQueryT,
): Promise<{ page: number; size: number; total: number; items: AnalyticsRunDto[] }> {
  const { rows, total } = await repo.listRuns(deps.db, q.size, (q.page - 1) * q.size);
  return { page: q.page, size: q.size, total, items: rows.map(toRunDto) };
}
