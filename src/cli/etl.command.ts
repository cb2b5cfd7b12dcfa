/**
 * `patientpulse etl`: loads a patients JSON file and/or a readings CSV file into the
 * configured database (DATABASE_URL, or the embedded one under DATA_DIR).
 *
 * Exit status: 0 the run completed (rejected rows are reported, not fatal); 1 with
 * --strict when anything was rejected, or invalid configuration or a data directory in
 * use (from the command line's entry point, as for every command); 2 usage error; 3 the
 * run failed (unreadable file, unusable header, database error); 130 / 143 stopped by
 * SIGINT / SIGTERM. Batches committed before a failure or a stop stay committed, and
 * re-running the same command completes the load without doubling anything.
 */
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/config.js';
import { DataDirNotPrivateError } from '../db/data-dir.js';
import { DataDirLockedError } from '../db/data-dir-lock.js';
import type { Database } from '../db/database.js';
import { openMigratedDatabase } from '../db/open.js';
import { auditedLoad } from '../modules/ingest/ingest.audit.js';
import { CsvRecordError, HeaderError } from '../modules/ingest/ingest.csv.js';
import { PatientsFileError } from '../modules/ingest/ingest.patients.js';
import { formatReport, type IngestReport, RejectsFile, rejectedTotal } from '../modules/ingest/ingest.report.js';
import {
  DEFAULT_BATCH_ROWS,
  describeError,
  type IngestDeps,
  LoadStoppedError,
  loadPatients,
  loadReadings,
} from '../modules/ingest/ingest.service.js';
import { UsageError } from './cli-errors.js';

export const EXIT_OK = 0;
export const EXIT_REJECTED = 1;
export const EXIT_FAILED = 3;
/** Stopped by a signal: 128 + its number, as a shell reports a process it ended. */
export const EXIT_STOPPED = { SIGINT: 130, SIGTERM: 143 } as const;
type StopSignal = keyof typeof EXIT_STOPPED;

const RERUN_ADVICE = 'Batches already committed are kept; re-running the same command completes the load safely.';

const HELP = `usage: patientpulse etl [--patients FILE] [--readings FILE] [options]
       npm run -s etl -- --patients FILE --readings FILE [options]

Loads patients (JSON array) and then readings (CSV, header
patient_email,timestamp,glucose_mg_dL,bp_systolic,bp_diastolic,weight_kg in any order or
subset; unit variants such as glucose_mmol_L and weight_lb are converted).

options:
  --patients FILE     patients JSON file, upserted by email
  --readings FILE     readings CSV file, upserted by (patient, type, timestamp)
  --rejects FILE      write every rejected row, cell and record to FILE (CSV)
  --dry-run           validate and report what would change, write nothing
  --strict            exit 1 when anything was rejected
  --batch-size N      rows per batch (default ${DEFAULT_BATCH_ROWS})
  --json              print the report as JSON instead of text
  -h, --help          show this help

SIGINT (Ctrl-C) or SIGTERM stops the run after the batch in progress, records the
audit event and prints the report so far; a second signal stops at once.

exit status: 0 done (rejections are reported), 1 rejections with --strict (or
invalid configuration, or the data directory is in use), 2 usage error, 3 the run
failed (re-running it is safe), 130 stopped by SIGINT, 143 stopped by SIGTERM.`;

interface EtlArgs {
  patients?: string;
  readings?: string;
  /** Already open, so a path that cannot be written is a usage error. */
  rejects?: RejectsFile;
  dryRun: boolean;
  strict: boolean;
  json: boolean;
  batchSize: number;
}

function parse(argv: string[]): EtlArgs | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        patients: { type: 'string' },
        readings: { type: 'string' },
        rejects: { type: 'string' },
        'dry-run': { type: 'boolean' },
        strict: { type: 'boolean' },
        json: { type: 'boolean' },
        'batch-size': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  const file = (name: 'patients' | 'readings') => {
    const v = values[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} needs a file name`);
    if (!existsSync(v) || !statSync(v).isFile()) throw new UsageError(`--${name}: no such file: ${v}`);
    return v;
  };
  const patients = file('patients');
  const readings = file('readings');
  if (!patients && !readings) throw new UsageError('give --patients FILE and/or --readings FILE (see --help)');
  const bs = values['batch-size'];
  let batchSize = DEFAULT_BATCH_ROWS;
  if (bs !== undefined) {
    if (typeof bs !== 'string' || !/^\d+$/.test(bs) || Number(bs) < 1 || Number(bs) > 1_000_000) {
      throw new UsageError('--batch-size must be a whole number between 1 and 1000000');
    }
    batchSize = Number(bs);
  }
  const rejectsPath = values.rejects;
  if (rejectsPath !== undefined && (typeof rejectsPath !== 'string' || rejectsPath === '')) {
    throw new UsageError('--rejects needs a file name');
  }
  // Opened last, once every other argument is known good: found out after patients were
  // committed, a bad path would fail the run part-way.
  let rejects: RejectsFile | undefined;
  if (typeof rejectsPath === 'string') {
    try {
      rejects = RejectsFile.openNow(rejectsPath);
    } catch (err) {
      // Node's message repeats the path ("ENOENT: no such file or directory, open '...'").
      const why = (err as Error).message.replace(/, open '.*'$/s, '');
      throw new UsageError(`--rejects: cannot write ${rejectsPath} (${why})`);
    }
  }
  return {
    patients,
    readings,
    rejects,
    dryRun: Boolean(values['dry-run']),
    strict: Boolean(values.strict),
    json: Boolean(values.json),
    batchSize,
  };
}

/** Progress on a terminal: rows done and rate, rewritten in place at most twice a second. */
export function progressPrinter(out: Pick<NodeJS.WriteStream, 'write'>, enabled: boolean) {
  let last = 0;
  return {
    update(p: { rowsRead: number; elapsedMs: number }) {
      if (!enabled || p.elapsedMs - last < 500) return;
      last = p.elapsedMs;
      const rate = Math.round(p.rowsRead / Math.max(p.elapsedMs / 1000, 0.001));
      out.write(`\r  ${p.rowsRead.toLocaleString('en')} rows, ${rate.toLocaleString('en')} rows/s   `);
    },
    clear() {
      if (enabled && last > 0) out.write('\r\x1b[K');
    },
  };
}

const stderrLog: IngestDeps['log'] = {
  info: () => {},
  warn: (_obj, msg) => process.stderr.write(`warning: ${msg}\n`),
};

/** Raised from {@link run} when the load itself failed part-way (not when it could not start). */
class RunFailedError extends Error {
  constructor(readonly failure: unknown) {
    super(describeError(failure));
    this.name = 'RunFailedError';
  }
}

/**
 * Loads the files. A stop through `signal` ends the load after the batch in progress and
 * returns the report so far, with `stopped` set; a failure is thrown as RunFailedError.
 */
async function run(database: Database, args: EtlArgs, signal: AbortSignal): Promise<IngestReport> {
  const started = Date.now();
  const deps: IngestDeps = { database, log: stderrLog, now: () => new Date(), signal };
  const rejects = args.rejects;
  const report: IngestReport = { dryRun: args.dryRun, elapsedMs: 0 };
  const stopReason = () => (typeof signal.reason === 'string' ? signal.reason : 'a stop request');
  const progress = progressPrinter(process.stderr, Boolean(process.stderr.isTTY) && !args.json);
  // One audit event per file loaded, also when the load fails part-way (a dry run writes nothing).
  const auditOpts = {
    skip: args.dryRun,
    onRecordError: (err: unknown) => stderrLog.warn({}, `the audit event could not be written: ${describeError(err)}`),
  };
  try {
    let pending: Map<string, number> | undefined;
    // The patients file is loaded in one piece; a stop is honoured before and after it.
    if (args.patients && !signal.aborted) {
      const file = args.patients;
      const result = await auditedLoad(
        database.db,
        { via: 'cli', kind: 'patients', file },
        async (ids) => {
          const r = await loadPatients(deps, readFileSync(file, 'utf8'), { dryRun: args.dryRun, rejects });
          for (const id of r.patientIds) ids.add(id);
          return r;
        },
        (r) => r.report,
        auditOpts,
      );
      report.patients = result.report;
      pending = result.pending;
    }
    if (args.readings && !signal.aborted) {
      const file = args.readings;
      report.readings = await auditedLoad(
        database.db,
        { via: 'cli', kind: 'readings', file },
        (patientIds) =>
          loadReadings(deps, createReadStream(file, { highWaterMark: 1 << 20 }), {
            dryRun: args.dryRun,
            batchSize: args.batchSize,
            rejects,
            pendingPatients: pending,
            patientIds,
            onProgress: (p) => progress.update(p),
          }),
        (r) => r,
        auditOpts,
      );
    }
    // A file left unstarted because of a stop (one stopped part-way ends in LoadStoppedError).
    const unstarted = (args.patients && !report.patients) || (args.readings && !report.readings);
    if (signal.aborted && unstarted) report.stopped = stopReason();
  } catch (err) {
    if (!(err instanceof LoadStoppedError)) throw new RunFailedError(err);
    report.readings = err.report;
    report.stopped = err.reason ?? stopReason();
  } finally {
    progress.clear();
  }
  try {
    await rejects?.close();
  } catch (err) {
    throw new RunFailedError(err);
  }
  report.elapsedMs = Date.now() - started;
  return report;
}

/** The message for a failed run, and whether re-running the same command can complete it. */
function failureMessage(err: unknown, args: EtlArgs): { message: string; rerun: boolean } {
  const cause = err instanceof RunFailedError ? err.failure : err;
  const file = (name: string | undefined) => (name ? `${path.basename(name)}: ` : '');
  // The file itself is at fault: the same command would fail the same way.
  if (cause instanceof HeaderError || cause instanceof CsvRecordError) {
    return { message: `${file(args.readings)}${cause.message}`, rerun: false };
  }
  if (cause instanceof PatientsFileError) {
    return { message: cause.message, rerun: false };
  }
  // Only a load that failed part-way (database, I/O) has committed batches to complete.
  return { message: describeError(cause), rerun: err instanceof RunFailedError };
}

/**
 * Stops the load on the first SIGINT or SIGTERM (aborting the returned signal with the
 * signal's name) and calls `exit` at once on a second one. `remove` takes the handlers off.
 */
export function stopOnSignals(
  proc: Pick<NodeJS.Process, 'on' | 'off'> = process,
  exit: (code: number) => void = (code) => process.exit(code),
  warn: (line: string) => void = (line) => console.error(line),
): { signal: AbortSignal; remove: () => void } {
  const stop = new AbortController();
  const onSignal = (name: StopSignal) => {
    if (stop.signal.aborted) {
      warn(`patientpulse etl: ${name} received again; stopping at once.`);
      exit(EXIT_STOPPED[name]);
      return;
    }
    warn(`patientpulse etl: ${name} received; stopping after the batch in progress (again to stop at once).`);
    stop.abort(name);
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  proc.on('SIGINT', onInt);
  proc.on('SIGTERM', onTerm);
  return {
    signal: stop.signal,
    remove: () => {
      proc.off('SIGINT', onInt);
      proc.off('SIGTERM', onTerm);
    },
  };
}

/**
 * Runs `patientpulse etl` with `argv` (the arguments after `etl`) and returns its exit
 * status. Throws UsageError, ConfigError, DataDirLockedError and DataDirNotPrivateError
 * for the command line's entry point to report.
 */
export async function etlCommand(argv: string[]): Promise<number> {
  const args = parse(argv);
  if (args === 'help') {
    console.log(HELP);
    return EXIT_OK;
  }
  const stop = stopOnSignals();
  let database: Database | undefined;
  try {
    const config = loadConfig(process.env, { isTty: Boolean(process.stdout.isTTY) });
    database = await openMigratedDatabase(config, 'patientpulse-etl');
    const report = await run(database, args, stop.signal);
    if (args.json) console.log(JSON.stringify(report, null, 2));
    else for (const line of formatReport(report)) console.log(line);
    if (report.stopped) {
      console.error(`patientpulse etl stopped by ${report.stopped} before the end of the load. ${RERUN_ADVICE}`);
      return EXIT_STOPPED[report.stopped as StopSignal] ?? EXIT_FAILED;
    }
    return args.strict && rejectedTotal(report) > 0 ? EXIT_REJECTED : EXIT_OK;
  } catch (err) {
    // Nothing to re-run: the entry point reports these as it does for every command.
    if (err instanceof ConfigError || err instanceof DataDirLockedError || err instanceof DataDirNotPrivateError) {
      throw err;
    }
    const { message, rerun } = failureMessage(err, args);
    console.error(`patientpulse etl failed: ${message}`);
    if (rerun) console.error(RERUN_ADVICE);
    return EXIT_FAILED;
  } finally {
    await args.rejects?.close().catch(() => {});
    await database?.close();
    stop.remove();
  }
}
