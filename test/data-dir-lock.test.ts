import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireDataDirLock, DataDirLockedError } from '../src/db/data-dir-lock.js';
import { openDatabase, queryRows } from '../src/db/database.js';
import { TEST_DB } from './helpers/database.js';
import { pgliteTemplatePath } from './helpers/template.js';

// The lock protects the embedded database only; PostgreSQL runs need not repeat it.
const suite = describe.skipIf(TEST_DB !== 'pglite');

const root = mkdtempSync(path.join(os.tmpdir(), 'pp-lock-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let dirCount = 0;
function freshDir(): string {
  dirCount += 1;
  const dir = path.join(root, `d${dirCount}`);
  mkdirSync(dir);
  return dir;
}

function lockedBy(dir: string, pid: number): string {
  return (
    `The embedded database in ${dir} is in use by another process (pid ${pid}). ` +
    'Stop that process first (for example the running server), or point this command ' +
    'at a PostgreSQL server with DATABASE_URL, which many processes can share.'
  );
}

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

/** The pid of a process that has already exited. */
function deadPid(): number {
  const done = spawnSync(process.execPath, ['-e', '0']);
  return done.pid as number;
}

suite('acquireDataDirLock', () => {
  let sleeper: ChildProcess | undefined;
  afterAll(() => {
    sleeper?.kill(); // no-op when it has already exited
  });

  it('writes our pid, refuses a second holder in this process, and frees the directory on release', () => {
    const dir = freshDir();
    const lock = acquireDataDirLock(dir);
    expect(readFileSync(path.join(dir, 'pgdata.lock'), 'utf8')).toBe(String(process.pid));
    const err = catchError(() => acquireDataDirLock(dir));
    expect(err).toBeInstanceOf(DataDirLockedError);
    expect((err as Error).message).toBe(
      `The embedded database in ${dir} is already open in this process (pid ${process.pid}); close it before opening it again.`,
    );
    lock.release();
    expect(existsSync(path.join(dir, 'pgdata.lock'))).toBe(false);
    acquireDataDirLock(dir).release();
  });

  it('refuses a directory held by another live process, naming it', async () => {
    const dir = freshDir();
    sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    const pid = sleeper.pid as number;
    writeFileSync(path.join(dir, 'pgdata.lock'), String(pid));
    const err = catchError(() => acquireDataDirLock(dir));
    expect(err).toBeInstanceOf(DataDirLockedError);
    expect(err).toMatchObject({ code: 'DATA_DIR_LOCKED', pid, dataDir: dir, message: lockedBy(dir, pid) });
    // The holder's lock is left alone.
    expect(readFileSync(path.join(dir, 'pgdata.lock'), 'utf8')).toBe(String(pid));
    // Once it has gone, the lock is stale and taken over.
    const exited = new Promise((resolve) => sleeper?.once('exit', resolve));
    process.kill(pid);
    await exited;
    const lock = acquireDataDirLock(dir);
    expect(readFileSync(path.join(dir, 'pgdata.lock'), 'utf8')).toBe(String(process.pid));
    lock.release();
  });

  it.each([
    ['a dead process', () => String(deadPid())],
    ['an earlier process with our pid (a restarted container)', () => String(process.pid)],
    ['nobody (empty file)', () => ''],
    ['nobody (garbage)', () => 'not a pid'],
    ['pid 0', () => '0'],
  ])('takes over a lock left by %s', (_what, content) => {
    const dir = freshDir();
    writeFileSync(path.join(dir, 'pgdata.lock'), content());
    const lock = acquireDataDirLock(dir);
    expect(readFileSync(path.join(dir, 'pgdata.lock'), 'utf8')).toBe(String(process.pid));
    lock.release();
  });
});

suite('the embedded database in DATA_DIR', () => {
  let seeded: string;
  beforeAll(async () => {
    // A migrated data directory, made once from the test template (initdb is slow).
    seeded = freshDir();
    const database = await openDatabase({
      dataDir: seeded,
      loadDataDir: new Blob([readFileSync(pgliteTemplatePath())]),
    });
    await database.close();
  });

  function copyOfSeed(): string {
    const dir = freshDir();
    cpSync(seeded, dir, { recursive: true });
    return dir;
  }

  it('belongs to one opener at a time and keeps its data across close and reopen', async () => {
    const dir = copyOfSeed();
    const first = await openDatabase({ dataDir: dir });
    try {
      await first.db.execute(
        sql`insert into patients (name, dob, gender, email) values ('Kept', '1980-01-01', 'other', 'kept@example.org')`,
      );
      await expect(openDatabase({ dataDir: dir })).rejects.toThrow(DataDirLockedError);
      // The refused opener did not disturb the holder.
      expect(await queryRows(first.db, sql`select email from patients`)).toEqual([{ email: 'kept@example.org' }]);
    } finally {
      await first.close();
    }
    expect(existsSync(path.join(dir, 'pgdata.lock'))).toBe(false);
    const reopened = await openDatabase({ dataDir: dir });
    try {
      expect(await queryRows(reopened.db, sql`select name, dob, email from patients`)).toEqual([
        { name: 'Kept', dob: '1980-01-01', email: 'kept@example.org' },
      ]);
    } finally {
      await reopened.close();
    }
  });

  it('stops a second process with a message saying what to do', async () => {
    const dir = copyOfSeed();
    const fixture = path.resolve('test/fixtures/open-data-dir.ts');
    const run = () =>
      spawnSync(process.execPath, ['--import', 'tsx', fixture, dir], { encoding: 'utf8', timeout: 120_000 });
    const holder = await openDatabase({ dataDir: dir });
    let refused: ReturnType<typeof run>;
    try {
      refused = run();
    } finally {
      await holder.close();
    }
    expect({ status: refused.status, stdout: refused.stdout, stderr: refused.stderr }).toEqual({
      status: 3,
      stdout: '',
      stderr: `${lockedBy(dir, process.pid)}\n`,
    });
    const afterwards = run();
    expect({ status: afterwards.status, stdout: afterwards.stdout }).toEqual({ status: 0, stdout: 'opened\n' });
  }, 240_000);
});
