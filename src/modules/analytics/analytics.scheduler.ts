/**
 * Runs the analytics job inside a server process: once after startup, then on the cron
 * schedule (evaluated in UTC, seconds allowed). Every instance ticks; the advisory lock in
 * the job lets one of them work at a time, and the tick's time lets the others see that the
 * tick was done (instances' clocks must agree to well within the schedule's interval).
 */
import { Cron } from 'croner';
import { type AnalyticsJobDeps, runAnalyticsJob, waitForAnalyticsIdle } from './analytics.jobs.js';

export interface SchedulerOptions {
  schedule: string;
  version: 1 | 2;
}

/** A started scheduler. */
export interface AnalyticsScheduler {
  /** Stops ticking and resolves once a run in flight has committed or rolled back. */
  stop(): Promise<void>;
}

async function tick(
  deps: AnalyticsJobDeps,
  version: 1 | 2,
  trigger: 'scheduled' | 'startup',
  tickAt?: Date,
): Promise<void> {
  try {
    await runAnalyticsJob(deps, { version, trigger, ...(tickAt ? { tickAt } : {}) });
  } catch (err) {
    // The failure could not even be recorded (database unreachable); the next tick retries.
    deps.log.error({ err, trigger }, 'analytics run could not be recorded');
  }
}

/** Runs the job once now (trigger `startup`); never throws. */
export function runStartupAnalytics(deps: AnalyticsJobDeps, version: 1 | 2): Promise<void> {
  return tick(deps, version, 'startup');
}

/** Starts the cron schedule. */
export function startAnalyticsScheduler(deps: AnalyticsJobDeps, opts: SchedulerOptions): AnalyticsScheduler {
  const job = new Cron(opts.schedule, { timezone: 'UTC', protect: true }, (self: Cron) =>
    // The scheduled time of this tick: the latest one at or before now.
    tick(deps, opts.version, 'scheduled', self.previousRuns(1, new Date())[0]),
  );
  deps.log.info(
    { schedule: opts.schedule, version: opts.version, next: job.nextRun()?.toISOString() },
    'analytics scheduler started',
  );
  return {
    async stop() {
      job.stop();
      await waitForAnalyticsIdle(deps.db);
    },
  };
}
