import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDataset } from '../scripts/gen-data.js';
import { UsageError } from '../src/cli/cli-errors.js';
import { etlCommand, progressPrinter, stopOnSignals } from '../src/cli/etl.command.js';
import { openDatabase, queryRows } from '../src/db/database.js';
import { RejectsFile } from '../src/modules/ingest/ingest.report.js';
import { createPgTestDatabase, TEST_DB } from './helpers/database.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const FIXTURES = path.join(ROOT, 'test/fixtures/ingest-dirty');

let tmp: string;
let env: NodeJS.ProcessEnv;
let drop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'pp-etl-'));
  env = { ...process.env, LOG_LEVEL: 'silent' };
  delete env.DATABASE_URL;
  if (TEST_DB === 'postgres') {
    const created = await createPgTestDatabase();
    env.DATABASE_URL = created.url;
    drop = created.drop;
  } else {
    env.DATA_DIR = path.join(tmp, 'data');
  }
});
afterAll(async () => {
  await drop?.();
  rmSync(tmp, { recursive: true, force: true });
});

interface EtlRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real command line, as `npm run etl -- ...` does. */
function etl(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<EtlRun> {
  return etlProcess(args, extraEnv).done;
}

/** Starts the real command line; `done` settles when it has exited. */
function etlProcess(args: string[], extraEnv: NodeJS.ProcessEnv = {}): { child: ChildProcess; done: Promise<EtlRun> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'etl', ...args], {
    cwd: ROOT,
    env: { ...env, ...extraEnv },
  });
  const done = new Promise<EtlRun>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { child, done };
}

/** Counts in the test database (patients, readings, audit events of loads). */
async function counts(): Promise<{ patients: number; readings: number; loadEvents: number }> {
  const database = await openDatabase({ databaseUrl: env.DATABASE_URL, dataDir: env.DATA_DIR });
  try {
    const [row] = await queryRows<{ patients: number; readings: number; load_events: number }>(
      database.db,
      sql`select (select count(*) from patients)::int as patients, (select count(*) from biometrics)::int as readings,
                 (select count(*) from audit_events where action like 'etl %')::int as load_events`,
    );
    return { patients: Number(row?.patients), readings: Number(row?.readings), loadEvents: Number(row?.load_events) };
  } finally {
    await database.close();
  }
}

/** Resolves once `file` holds more than `bytes` bytes. */
async function grownPast(file: string, bytes: number, timeoutMs = 120_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!existsSync(file) || statSync(file).size <= bytes) {
    if (Date.now() > until) throw new Error(`${file} did not grow past ${bytes} bytes`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('patientpulse etl: arguments', () => {
  it.each([
    [['--bogus'], /Unknown option '--bogus'/],
    [[], /give --patients FILE and\/or --readings FILE/],
    [['--readings', '/no/such/file.csv'], /--readings: no such file/],
    [['--readings', path.join(FIXTURES, 'readings.csv'), '--batch-size', '0'], /--batch-size must be/],
    [['--readings', path.join(FIXTURES, 'readings.csv'), 'extra'], /Unexpected argument 'extra'/],
  ])('%j is a usage error (exit 2)', async (args, message) => {
    await expect(etlCommand(args)).rejects.toThrow(UsageError);
    await expect(etlCommand(args)).rejects.toThrow(message);
  });

  it('prints help', async () => {
    expect(await etlCommand(['--help'])).toBe(0);
  });

  it('exits 2 on a usage error, before touching the database', async () => {
    const run = await etl(['--readings', path.join(FIXTURES, 'readings.csv'), '--batch-size', 'many']);
    expect(run).toEqual({
      code: 2,
      stdout: '',
      stderr: 'patientpulse etl: --batch-size must be a whole number between 1 and 1000000\n',
    });
  });
});

describe('signals', () => {
  it.each([
    ['SIGINT', 'SIGINT', 130],
    ['SIGTERM', 'SIGTERM', 143],
    ['SIGTERM', 'SIGINT', 130],
  ] as const)('%s aborts the load with its name; then %s exits at once with %i', (first, second, code) => {
    const proc = new EventEmitter();
    const exits: number[] = [];
    const lines: string[] = [];
    const stop = stopOnSignals(
      proc as unknown as NodeJS.Process,
      (c) => exits.push(c),
      (l) => lines.push(l),
    );
    proc.emit(first);
    expect({ aborted: stop.signal.aborted, reason: stop.signal.reason, exits }).toEqual({
      aborted: true,
      reason: first,
      exits: [],
    });
    proc.emit(second);
    expect(exits).toEqual([code]);
    expect(lines).toEqual([
      `patientpulse etl: ${first} received; stopping after the batch in progress (again to stop at once).`,
      `patientpulse etl: ${second} received again; stopping at once.`,
    ]);
    stop.remove();
    expect(proc.listenerCount('SIGINT') + proc.listenerCount('SIGTERM')).toBe(0);
  });
});

describe('progress', () => {
  it('on a terminal: rows and rate at most twice a second, cleared before the summary', () => {
    const written: string[] = [];
    const p = progressPrinter({ write: (s: string) => written.push(s) > 0 }, true);
    p.update({ rowsRead: 100, elapsedMs: 200 });
    p.update({ rowsRead: 250_000, elapsedMs: 1_000 });
    p.update({ rowsRead: 260_000, elapsedMs: 1_200 });
    p.update({ rowsRead: 600_000, elapsedMs: 2_000 });
    p.clear();
    expect(written).toEqual(['\r  250,000 rows, 250,000 rows/s   ', '\r  600,000 rows, 300,000 rows/s   ', '\r\x1b[K']);
  });

  it('elsewhere (a pipe, --json): nothing', () => {
    const written: string[] = [];
    const p = progressPrinter({ write: (s: string) => written.push(s) > 0 }, false);
    p.update({ rowsRead: 250_000, elapsedMs: 1_000 });
    p.clear();
    expect(written).toEqual([]);
  });
});

describe('rejects file', () => {
  const reject = {
    source: 'readings',
    line: 3,
    column: 'glucose_mg_dL',
    reason: 'non_numeric',
    detail: 'glucose is not a number',
    original: 'ana@example.org,2025-01-01T00:00:00,x,,,',
  } as const;

  it.skipIf(process.platform === 'win32')(
    'is created, or an existing file is replaced, readable by its owner only (0600)',
    async () => {
      const fresh = path.join(tmp, 'rejects-new.csv');
      const existing = path.join(tmp, 'rejects-old.csv');
      writeFileSync(existing, 'old contents\n');
      chmodSync(existing, 0o644);
      for (const file of [fresh, existing]) {
        const out = new RejectsFile(file);
        await out.write([reject]);
        await out.close();
        expect({ mode: statSync(file).mode & 0o777, text: readFileSync(file, 'utf8') }).toEqual({
          mode: 0o600,
          text:
            'source,line,column,reason,detail,original\n' +
            'readings,3,glucose_mg_dL,non_numeric,glucose is not a number,"ana@example.org,2025-01-01T00:00:00,x,,,"\n',
        });
      }
    },
  );
});

// Each run starts a process that opens (and on first use migrates) the database.
describe('patientpulse etl: runs', { timeout: 300_000 }, () => {
  it('loads, reports, writes rejects; exits 1 with --strict, 0 without, and re-runs idempotently', async () => {
    const rejects = path.join(tmp, 'rejects.csv');
    const patients = path.join(FIXTURES, 'patients.json');
    const readings = path.join(FIXTURES, 'readings.csv');
    const dry = await etl(['--patients', patients, '--readings', readings, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^dry run \(nothing written\): patients 8 read: 8 inserted/);

    const first = await etl(['--patients', patients, '--readings', readings, '--rejects', rejects, '--strict']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(1);
    const summary = first.stdout.split('\n')[0] as string;
    expect(summary).toMatch(
      /^patients 8 read: 8 inserted, 0 updated, 0 unchanged, 0 duplicate, 0 rejected; rows 400 read: \d+ loaded, 7 duplicate, \d+ rejected; readings \d+ inserted, 0 updated, 0 unchanged, \d+ duplicate, \d+ rejected; [\d.]+ s, \d+ rows\/s$/,
    );
    expect(first.stdout).toMatch(
      /rejected rows: bad_email 12, bad_timestamp 7, unknown_patient 12, wrong_column_count 8/,
    );
    expect(first.stdout).toMatch(/rejected readings: impossible_value 19, non_numeric 15/);
    // The file quotes rejected lines (PHI): its owner alone may read it.
    expect(statSync(rejects).mode & 0o777).toBe(0o600);
    const lines = readFileSync(rejects, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('source,line,column,reason,detail,original');
    expect(lines).toHaveLength(1 + 12 + 7 + 12 + 8 + 19 + 15);
    // One line per rejected cell or row, in line order, with the original line quoted as CSV.
    expect(lines.slice(1, 3)).toEqual([
      'readings,7,glucose_mg_dL,impossible_value,glucose must be between 10 and 1500 mg/dL,"ana.oneill.4@example.org,2026-01-24T23:14:36,0,133,82,69.3"',
      'readings,17,,wrong_column_count,"expected 6 columns, found 5","ana.patel.1@example.org,2026-01-25T02:43:12,88,,"',
    ]);

    const second = await etl(['--patients', patients, '--readings', readings, '--json']);
    expect(second.code).toBe(0);
    const report = JSON.parse(second.stdout);
    expect(report.patients).toMatchObject({ inserted: 0, unchanged: 8 });
    expect(report.readings.readings).toMatchObject({ inserted: 0, updated: 0, rejected: 34 });
    expect(report.readings.readings.unchanged).toBeGreaterThan(0);

    // One audit event per file of each run that wrote; the dry run wrote none.
    const database = await openDatabase({ databaseUrl: env.DATABASE_URL, dataDir: env.DATA_DIR });
    try {
      const events = await queryRows<{ action: string; outcome: string; file: string; rejected: number }>(
        database.db,
        sql`select action, outcome, detail->>'file' as file,
                   coalesce(detail#>>'{counts,rows,rejected}', detail#>>'{counts,rejected}')::int as rejected
            from audit_events where action like 'etl %' order by id`,
      );
      expect(events).toEqual([
        { action: 'etl patients', outcome: 'allowed', file: 'patients.json', rejected: 0 },
        { action: 'etl readings', outcome: 'allowed', file: 'readings.csv', rejected: 39 },
        { action: 'etl patients', outcome: 'allowed', file: 'patients.json', rejected: 0 },
        { action: 'etl readings', outcome: 'allowed', file: 'readings.csv', rejected: 39 },
      ]);
    } finally {
      await database.close();
    }
  });

  it('exits 3 on an unusable header, naming the file and the cause, without advice to re-run', async () => {
    const bad = path.join(tmp, 'bad.csv');
    writeFileSync(bad, 'patient_email,timestamp,pulse\na@b.org,2025-01-01T00:00:00,60\n');
    const before = await counts();
    const run = await etl(['--readings', bad]);
    expect(run).toEqual({
      code: 3,
      stdout: '',
      stderr:
        'patientpulse etl failed: bad.csv: unusable CSV header: unknown column "pulse"; no reading column; ' +
        'accepted columns: patient_email (or email), timestamp, and any of glucose[_mg_dl|_mmol_l], ' +
        '[bp_]systolic[_mmhg], [bp_]diastolic[_mmhg], weight[_kg|_lb|_lbs]\n',
    });
    // The file was read (its header), so it has its audit event; nothing else was written.
    expect(await counts()).toEqual({ ...before, loadEvents: before.loadEvents + 1 });
  });

  it('exits 3 on a quote that is never closed, at the line where its record starts', async () => {
    const file = path.join(tmp, 'quote.csv');
    const rows = Array.from(
      { length: 2000 },
      (_, i) => `nobody@example.org,2025-01-01T00:00:${String(i % 60).padStart(2, '0')},90,,,`,
    );
    writeFileSync(
      file,
      `patient_email,timestamp,glucose_mg_dL,bp_systolic,bp_diastolic,weight_kg\nnobody@example.org,"2025-01-01T00:00:00,90,,,\n${rows.join('\n')}\n`,
    );
    const run = await etl(['--readings', file]);
    expect(run).toEqual({
      code: 3,
      stdout: '',
      stderr:
        'patientpulse etl failed: quote.csv: line 2: the record starting here is longer than 65536 bytes ' +
        '(a quote that is never closed?)\n',
    });
  });

  it('a --rejects path that cannot be written is a usage error (exit 2), found before anything is loaded', async () => {
    const before = await counts();
    const run = await etl([
      '--patients',
      path.join(FIXTURES, 'patients.json'),
      '--readings',
      path.join(FIXTURES, 'readings.csv'),
      '--rejects',
      '/nonexistent/dir/rej.csv',
    ]);
    expect(run).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'patientpulse etl: --rejects: cannot write /nonexistent/dir/rej.csv (ENOENT: no such file or directory)\n',
    });
    expect(await counts()).toEqual(before);
  });

  it('invalid configuration exits 1 with the variable named, like every command', async () => {
    const run = await etl(['--readings', path.join(FIXTURES, 'readings.csv')], { PORT: 'abc' });
    expect(run).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Invalid configuration: PORT must be a whole number (got "abc")\n',
    });
  });

  it.skipIf(TEST_DB === 'postgres')('a data directory in use exits 1 saying which process holds it', async () => {
    const holder = await openDatabase({ dataDir: env.DATA_DIR });
    try {
      const run = await etl(['--readings', path.join(FIXTURES, 'readings.csv')]);
      expect(run).toEqual({
        code: 1,
        stdout: '',
        stderr:
          `The embedded database in ${env.DATA_DIR} is in use by another process (pid ${process.pid}). ` +
          'Stop that process first (for example the running server), or point this command at a PostgreSQL ' +
          'server with DATABASE_URL, which many processes can share.\n',
      });
    } finally {
      await holder.close();
    }
  });
});

describe('patientpulse etl: stopped by a signal', { timeout: 300_000 }, () => {
  let big: string;
  let totalRows: number;
  beforeAll(async () => {
    big = path.join(tmp, 'big');
    // Dirty rows put lines in the rejects file after each committed batch: the test's
    // sign that the load is under way.
    const summary = await generateDataset({ out: big, patients: 10, rows: 60_000, seed: 11, dirty: 0.02 });
    totalRows = summary.rows;
  });

  it('SIGTERM: the batch in progress finishes, the audit event and report are written, exit 143; re-running completes', async () => {
    const before = await counts();
    const rejects = path.join(tmp, 'stop-rejects.csv');
    const args = ['--patients', path.join(big, 'patients.json'), '--readings', path.join(big, 'readings.csv')];
    const { child, done } = etlProcess([...args, '--batch-size', '500', '--rejects', rejects, '--json']);
    await grownPast(rejects, 2_000);
    child.kill('SIGTERM');
    const run = await done;
    expect({ code: run.code, stderr: run.stderr }).toEqual({
      code: 143,
      stderr:
        'patientpulse etl: SIGTERM received; stopping after the batch in progress (again to stop at once).\n' +
        'patientpulse etl stopped by SIGTERM before the end of the load. Batches already committed are kept; ' +
        're-running the same command completes the load safely.\n',
    });
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({ dryRun: false, stopped: 'SIGTERM', patients: { records: 10 } });
    const rowsRead = report.readings.rows.read as number;
    expect(rowsRead).toBeGreaterThan(0);
    expect(rowsRead).toBeLessThan(totalRows);
    // Whole batches only.
    expect(rowsRead % 500).toBe(0);
    expect(report.readings.batches).toBe(rowsRead / 500);

    const stored = await counts();
    expect(stored.readings - before.readings).toBe(report.readings.readings.inserted);
    const database = await openDatabase({ databaseUrl: env.DATABASE_URL, dataDir: env.DATA_DIR });
    try {
      const events = await queryRows<{ action: string; outcome: string; detail: Record<string, unknown> }>(
        database.db,
        sql`select action, outcome, detail from audit_events where action like 'etl %' order by id desc limit 2`,
      );
      expect(events.reverse()).toEqual([
        {
          action: 'etl patients',
          outcome: 'allowed',
          detail: expect.objectContaining({ via: 'cli', file: 'patients.json' }),
        },
        {
          action: 'etl readings',
          outcome: 'error',
          detail: {
            via: 'cli',
            file: 'readings.csv',
            counts: { rows: report.readings.rows, readings: report.readings.readings },
            error: `stopped by SIGTERM before the end of the file, after ${rowsRead} rows`,
          },
        },
      ]);
    } finally {
      await database.close();
    }

    const rerun = await etl([...args, '--json']);
    expect({ code: rerun.code, stderr: rerun.stderr }).toEqual({ code: 0, stderr: '' });
    const full = JSON.parse(rerun.stdout);
    expect(full.stopped).toBeUndefined();
    expect(full.readings.rows.read).toBe(totalRows);
    expect(full.readings.readings.unchanged).toBe(report.readings.readings.inserted);
    expect((await counts()).readings - before.readings).toBe(
      report.readings.readings.inserted + full.readings.readings.inserted,
    );
    // A third run finds everything stored.
    const again = await etl([...args, '--json']);
    expect(JSON.parse(again.stdout).readings.readings.inserted).toBe(0);
  });

  // The embedded database runs each statement on the command's own thread, so there a
  // signal is only noticed once the statement in progress ends, and a second one sent
  // during the first one's batch may arrive after the run has already finished. The
  // handlers themselves are checked in-process below, on both databases.
  it.skipIf(TEST_DB === 'pglite')('a second SIGINT stops at once (exit 130)', async () => {
    const rejects = path.join(tmp, 'stop-rejects-2.csv');
    // Large batches: the first signal's batch is still in the database when the second comes.
    const args = ['--readings', path.join(big, 'readings.csv'), '--batch-size', '5000', '--rejects', rejects];
    const { child, done } = etlProcess(args);
    await grownPast(rejects, 2_000);
    // Signals sent back to back can merge into one: the second follows the first's notice.
    child.stderr?.on('data', (d) => {
      if (String(d).includes('SIGINT received;')) child.kill('SIGINT');
    });
    child.kill('SIGINT');
    expect(await done).toEqual({
      code: 130,
      stdout: '',
      stderr:
        'patientpulse etl: SIGINT received; stopping after the batch in progress (again to stop at once).\n' +
        'patientpulse etl: SIGINT received again; stopping at once.\n',
    });
  });
});
