/**
 * `patientpulse etl`: loads a patients JSON file and/or a readings CSV file into the
 * configured database (DATABASE_URL, or the embedded one under DATA_DIR).
 *
 * Exit status: 0 the run completed (rejected rows are reported, not fatal); 1 with
 * --strict when anything was rejected; 2 usage error; 3 the run failed (unreadable file,
 * unusable header, database error). Batches committed before a failure stay committed,
 * and re-running the same command completes the load without doubling anything.
 */
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/config.js';
import type { Database } from '../db/database.js';
import { openMigratedDatabase } from '../db/open.js';
import { auditedLoad } from '../modules/ingest/ingest.audit.js';
import { formatReport, type IngestReport, RejectsFile, rejectedTotal } from '../modules/ingest/ingest.report.js';
import {
  DEFAULT_BATCH_ROWS,
  describeError,
  type IngestDeps,
  loadPatients,
  loadReadings,
} from '../modules/ingest/ingest.service.js';
import { UsageError } from './cli-errors.js';

export const EXIT_OK = 0;
export const EXIT_REJECTED = 1;
export const EXIT_FAILED = 3;

const HELP = `usage: patientpulse etl [--patients FILE] [--readings FILE] [options]
       npm run etl -- --patients FILE --readings FILE [options]

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

exit status: 0 done (rejections are reported), 1 rejections with --strict,
2 usage error, 3 the run failed (re-running it is safe).`;

interface EtlArgs {
  patients?: string;
  readings?: string;
  rejects?: string;
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
  const rejects = values.rejects;
  if (rejects !== undefined && (typeof rejects !== 'string' || rejects === '')) {
    throw new UsageError('--rejects needs a file name');
  }
  return {
    patients,
    readings,
    rejects: rejects as string | undefined,
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

async function run(database: Database, args: EtlArgs): Promise<IngestReport> {
  const started = Date.now();
  const deps: IngestDeps = { database, log: stderrLog, now: () => new Date() };
  const rejects = args.rejects ? new RejectsFile(args.rejects) : undefined;
  const report: IngestReport = { dryRun: args.dryRun, elapsedMs: 0 };
  const progress = progressPrinter(process.stderr, Boolean(process.stderr.isTTY) && !args.json);
  // One audit event per file loaded, also when the load fails part-way (a dry run writes nothing).
  const auditOpts = {
    skip: args.dryRun,
    onRecordError: (err: unknown) => stderrLog.warn({}, `the audit event could not be written: ${describeError(err)}`),
  };
  try {
    let pending: Map<string, number> | undefined;
    if (args.patients) {
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
    if (args.readings) {
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
  } finally {
    progress.clear();
    await rejects?.close();
  }
  report.elapsedMs = Date.now() - started;
  return report;
}

export async function etlCommand(argv: string[]): Promise<number> {
  const args = parse(argv);
  if (args === 'help') {
    console.log(HELP);
    return EXIT_OK;
  }
  let database: Database | undefined;
  try {
    database = await openMigratedDatabase(
      loadConfig(process.env, { isTty: Boolean(process.stdout.isTTY) }),
      'patientpulse-etl',
    );
    const report = await run(database, args);
    if (args.json) console.log(JSON.stringify(report, null, 2));
    else for (const line of formatReport(report)) console.log(line);
    return args.strict && rejectedTotal(report) > 0 ? EXIT_REJECTED : EXIT_OK;
  } catch (err) {
    console.error(`patientpulse etl failed: ${describeError(err)}`);
    console.error('Batches already committed are kept; re-running the same command completes the load safely.');
    return EXIT_FAILED;
  } finally {
    await database?.close();
  }
}
