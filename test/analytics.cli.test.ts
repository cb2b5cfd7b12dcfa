import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAnalyticsArgs } from '../src/cli/analytics.command.js';
import { UsageError } from '../src/cli/cli-errors.js';
import { createPgTestDatabase, TEST_DB } from './helpers/database.js';

describe('parseAnalyticsArgs', () => {
  it.each([
    [['run'], { help: false, version: undefined }],
    [['run', '--version', '1'], { help: false, version: 1 }],
    [['run', '--version=2'], { help: false, version: 2 }],
    [['run', '--help'], { help: true }],
    [['--help'], { help: true }],
  ])('parses %j', (argv, expected) => {
    expect(parseAnalyticsArgs(argv)).toEqual(expected);
  });

  it.each([[[]], [['go']], [['run', '--version', '3']], [['run', '--version']], [['run', '--fast']]])(
    'rejects %j as a usage error',
    (argv) => {
      expect(() => parseAnalyticsArgs(argv)).toThrow(UsageError);
    },
  );
});

describe('patientpulse analytics run', () => {
  let dir: string;
  let pg: Awaited<ReturnType<typeof createPgTestDatabase>> | undefined;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pp-analytics-cli-'));
    if (TEST_DB === 'postgres') pg = await createPgTestDatabase();
  });
  afterAll(async () => {
    await pg?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'analytics', ...args], {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '',
        DATA_DIR: dir,
        LOG_LEVEL: 'warn',
        ...(pg ? { DATABASE_URL: pg.url } : {}),
      },
      timeout: 120_000,
    });

  // Slow on the embedded database: the child process creates and migrates a data directory.
  it('runs the job, prints the run summary and exits 0', () => {
    const res = cli('run', '--version', '2');
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    expect(res.stdout).toMatch(
      /^analytics run 1 succeeded: v2, 0 buckets touched, 0 buffer rows consumed, \d+\.\d\d s\n$/,
    );
  }, 180_000);

  it('exits 2 on a usage error', () => {
    const res = cli('run', '--version', '7');
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('--version must be 1 or 2');
  });
});
