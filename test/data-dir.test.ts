/**
 * The embedded database's directory (DATA_DIR) is private to the user running the server:
 * created 0700, tightened to 0700 when it exists with wider modes, and refused when that
 * cannot be done.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { DataDirNotPrivateError, makePrivateDataDir } from '../src/db/data-dir.js';
import { openDatabase, queryRows } from '../src/db/database.js';
import { TEST_DB } from './helpers/database.js';
import { pgliteTemplatePath } from './helpers/template.js';

// Only the embedded database has a data directory; PostgreSQL runs need not repeat it.
const suite = describe.skipIf(TEST_DB !== 'pglite' || process.platform === 'win32');
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

const root = mkdtempSync(path.join(os.tmpdir(), 'pp-datadir-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const modeOf = (p: string) => statSync(p).mode & 0o777;
const NOBODY = 65534;

suite('DATA_DIR permissions', () => {
  it('opens the embedded database in a 0755 directory and leaves the directory 0700', async () => {
    const dir = path.join(root, 'wide');
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    const database = await openDatabase({
      dataDir: dir,
      loadDataDir: new Blob([readFileSync(pgliteTemplatePath())]),
    });
    try {
      expect(modeOf(dir)).toBe(0o700);
      expect(await queryRows(database.db, sql`select 1 as one`)).toEqual([{ one: 1 }]);
    } finally {
      await database.close();
    }
    expect(modeOf(dir)).toBe(0o700);
  });

  it('creates a missing directory, and its missing parents, with mode 0700', () => {
    const dir = path.join(root, 'new', 'nested');
    makePrivateDataDir(dir);
    expect({ dir: modeOf(dir), parent: modeOf(path.dirname(dir)) }).toEqual({ dir: 0o700, parent: 0o700 });
  });

  it('leaves a private directory as it is (0700, or tighter)', () => {
    const dir = path.join(root, 'tight');
    mkdirSync(dir);
    chmodSync(dir, 0o500);
    makePrivateDataDir(dir);
    expect(modeOf(dir)).toBe(0o500);
  });

  it.skipIf(!isRoot)(
    "refuses another user's directory that others can read, naming DATA_DIR, and leaves it untouched",
    async () => {
      const dir = path.join(root, 'foreign');
      mkdirSync(dir);
      chmodSync(dir, 0o755);
      chownSync(dir, NOBODY, NOBODY);
      let caught: unknown;
      try {
        await openDatabase({ dataDir: dir });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(DataDirNotPrivateError);
      expect(caught).toMatchObject({
        code: 'DATA_DIR_NOT_PRIVATE',
        dataDir: dir,
        message:
          `DATA_DIR ${dir} must be accessible to the user running PatientPulse only (mode 0700), ` +
          `but it has mode 0755 and belongs to another user (uid ${NOBODY}, this process runs as uid 0). ` +
          'It holds patient data: make that user its owner and run chmod 700 on it, or choose another DATA_DIR.',
      });
      expect(modeOf(dir)).toBe(0o755);
      expect(existsSync(path.join(dir, 'pgdata.lock'))).toBe(false);
      expect(existsSync(path.join(dir, 'pgdata'))).toBe(false);
    },
  );
});
