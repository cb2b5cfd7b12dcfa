/**
 * PGlite does not lock its data directory, and two processes writing one directory
 * corrupt it. This lock file makes the embedded database belong to one process at a
 * time; a lock left by a dead process is taken over. The file is created complete (written
 * under a temporary name, then hard-linked into place, which fails if it exists), so a
 * reader never sees a half-written pid.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Thrown when another live process (or this one) already holds the embedded database. */
export class DataDirLockedError extends Error {
  readonly code = 'DATA_DIR_LOCKED';
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(
      pid === process.pid
        ? `The embedded database in ${dataDir} is already open in this process (pid ${pid}); close it before opening it again.`
        : `The embedded database in ${dataDir} is in use by another process (pid ${pid}). ` +
            'Stop that process first (for example the running server), or point this command ' +
            'at a PostgreSQL server with DATABASE_URL, which many processes can share.',
    );
    this.name = 'DataDirLockedError';
  }
}

/**
 * Lock files this process holds. A lock file naming our own pid that is not in here was
 * left by an earlier process that had the same pid: the usual case after a crash in a
 * container, where the server gets the same small pid on every start.
 */
const held = new Set<string>();

export interface DataDirLock {
  release(): void;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Puts `tmp` in place as `file`, failing with EEXIST when `file` exists. */
function createExclusive(tmp: string, file: string): void {
  try {
    linkSync(tmp, file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw err;
    // A file system without hard links: exclusive create, then write.
    writeFileSync(file, readFileSync(tmp), { flag: 'wx' });
  }
}

/** Takes the lock for `dataDir` or throws {@link DataDirLockedError}. */
export function acquireDataDirLock(dataDir: string): DataDirLock {
  const file = path.resolve(dataDir, 'pgdata.lock');
  if (held.has(file)) throw new DataDirLockedError(dataDir, process.pid);
  for (let attempt = 0; attempt < 2; attempt++) {
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    try {
      writeFileSync(tmp, String(process.pid));
      createExclusive(tmp, file);
      held.add(file);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        held.delete(file);
        process.off('exit', release);
        rmSync(file, { force: true });
      };
      process.on('exit', release);
      return { release };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let content: string;
      try {
        content = readFileSync(file, 'utf8');
      } catch (readErr) {
        if ((readErr as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile
        throw readErr;
      }
      const pid = Number.parseInt(content, 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new DataDirLockedError(dataDir, pid);
      }
      rmSync(file, { force: true }); // stale: its process died (or was an earlier us)
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  throw new DataDirLockedError(dataDir, -1);
}
