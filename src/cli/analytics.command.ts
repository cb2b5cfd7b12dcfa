/**
 * `patientpulse analytics run [--version 1|2]`: runs the analytics job once, with the same
 * lock and run record as the server's scheduler, and prints the run's summary.
 *
 * Exit codes: 0 the run succeeded, 1 it failed (rolled back, recorded as failed), 2 usage
 * error, 3 another run was in progress (nothing done; try again).
 */
import { hostname } from 'node:os';
import { loadConfig } from '../config/config.js';
import { openMigratedDatabase } from '../db/open.js';
import { runAnalyticsJob } from '../modules/analytics/analytics.jobs.js';
import { UsageError } from './cli-errors.js';

const HELP = `usage: patientpulse analytics run [--version 1|2]

Runs the analytics job once and prints the run record.
  --version 1   recompute every bucket from the readings
  --version 2   apply the change buffer (only the buckets that changed)
  (default: ANALYTICS_VERSION)

Exit codes: 0 succeeded, 1 failed, 2 usage error, 3 another run was in progress.`;

/** Parses `run [--version N]`; throws UsageError on anything else. */
export function parseAnalyticsArgs(argv: string[]): { help: true } | { help: false; version: 1 | 2 | undefined } {
  if (argv.includes('--help') || argv.includes('-h')) return { help: true };
  const [sub, ...rest] = argv;
  if (sub !== 'run') throw new UsageError(sub ? `unknown subcommand "${sub}"\n\n${HELP}` : HELP);
  let version: 1 | 2 | undefined;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] ?? '';
    const m = /^--version(?:=(.*))?$/.exec(arg);
    if (!m) throw new UsageError(`unexpected argument "${arg}"`);
    const value = m[1] ?? rest[++i];
    if (value !== '1' && value !== '2') throw new UsageError('--version must be 1 or 2');
    version = value === '1' ? 1 : 2;
  }
  return { help: false, version };
}

function toStderr(_obj: Record<string, unknown>, msg: string): void {
  console.error(msg);
}

export async function analyticsCommand(argv: string[]): Promise<number> {
  const args = parseAnalyticsArgs(argv);
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  const config = loadConfig(process.env, { isTty: Boolean(process.stdout.isTTY) });
  const version = args.version ?? config.analyticsVersion;
  const instanceId = `cli-${hostname()}-${process.pid}`;
  const database = await openMigratedDatabase(config, `patientpulse-analytics-${process.pid}`);
  try {
    // The summary below says what happened; only warnings and errors are worth a line of their own.
    const quiet = () => {};
    const log = { debug: quiet, info: quiet, warn: toStderr, error: toStderr };
    const outcome = await runAnalyticsJob(
      { db: database.jobsDb, log, now: () => new Date(), instanceId },
      { version, trigger: 'manual' },
    );
    if (!outcome.ran) {
      console.error('Another analytics run is in progress; nothing was done. Try again when it has finished.');
      return 3;
    }
    const r = outcome.run;
    const seconds = r.finishedAt ? ((r.finishedAt.getTime() - r.startedAt.getTime()) / 1000).toFixed(2) : '?';
    const summary =
      `analytics run ${r.id} ${r.status}: v${r.version}, ${r.bucketsTouched} buckets touched, ` +
      `${r.rowsConsumed} buffer rows consumed, ${seconds} s`;
    if (r.status !== 'succeeded') {
      console.error(`${summary}\nerror: ${r.error ?? 'unknown'}`);
      return 1;
    }
    console.log(summary);
    return 0;
  } finally {
    await database.close();
  }
}
