import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../src/cli/cli-errors.js';
import { etlCommand, progressPrinter } from '../src/cli/etl.command.js';
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

/** Runs the real command line, as `npm run etl -- ...` does. */
function etl(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'etl', ...args], { cwd: ROOT, env });
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

  it('exits 3 when the run fails, naming the cause', async () => {
    const bad = path.join(tmp, 'bad.csv');
    writeFileSync(bad, 'patient_email,timestamp,pulse\na@b.org,2025-01-01T00:00:00,60\n');
    const run = await etl(['--readings', bad]);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/^patientpulse etl failed: unusable CSV header: unknown column "pulse"/);
  });
});
