/**
 * The embedded database's directory is private to the user running PatientPulse. PGlite
 * creates its files with the process umask (0644/0666 are common), and its WAL and tables
 * hold patient data in the clear; a 0700 directory keeps every other local user out of
 * everything inside it whatever the files' own modes, as PostgreSQL demands of its data
 * directory.
 */
import { chmodSync, mkdirSync, statSync } from 'node:fs';

/** Thrown when DATA_DIR cannot be made accessible to this user alone. */
export class DataDirNotPrivateError extends Error {
  readonly code = 'DATA_DIR_NOT_PRIVATE';
  constructor(
    readonly dataDir: string,
    reason: string,
  ) {
    super(
      `DATA_DIR ${dataDir} must be accessible to the user running PatientPulse only (mode 0700), ` +
        `but ${reason}. It holds patient data: make that user its owner and run chmod 700 on it, ` +
        'or choose another DATA_DIR.',
    );
    this.name = 'DataDirNotPrivateError';
  }
}

const octal = (mode: number) => (mode & 0o777).toString(8).padStart(4, '0');

/**
 * Creates `dir` with mode 0700, or makes an existing directory this user owns 0700.
 * Throws {@link DataDirNotPrivateError} when group or other users keep access to it.
 */
export function makePrivateDataDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Windows has no POSIX modes (and no getuid); its ACLs are the administrator's.
  if (process.platform === 'win32' || typeof process.getuid !== 'function') return;
  const st = statSync(dir);
  if ((st.mode & 0o077) === 0) return;
  const uid = process.getuid();
  if (st.uid !== uid) {
    throw new DataDirNotPrivateError(
      dir,
      `it has mode ${octal(st.mode)} and belongs to another user (uid ${st.uid}, this process runs as uid ${uid})`,
    );
  }
  try {
    chmodSync(dir, 0o700);
  } catch (err) {
    throw new DataDirNotPrivateError(
      dir,
      `it has mode ${octal(st.mode)} and chmod failed (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  // Some file systems (mounted shares) accept chmod and ignore it.
  const after = statSync(dir).mode;
  if ((after & 0o077) !== 0) {
    throw new DataDirNotPrivateError(dir, `its file system keeps mode ${octal(after)} after chmod 700`);
  }
}
