/** Command-line options of `npm run bench` and the data sizes they select. */
import { parseArgs } from 'node:util';
import type { DbKind } from './types.js';

export interface BenchOptions {
  quick: boolean;
  only: string[] | null;
  dbs: DbKind[];
  /** PostgreSQL server to create scratch databases on (from DATABASE_URL). */
  adminUrl: string | undefined;
  connections: number;
  /** Seconds per measured HTTP run. */
  duration: number;
  /** A/B rounds per HTTP scenario. */
  rounds: number;
  /** Repetitions of the long load and analytics measurements. */
  repeat: number;
  /** Multiplies every data size (for validation runs at reduced sizes). */
  scale: number;
  profile: boolean;
  build: boolean;
  keep: boolean;
}

/** Data sizes of one run; `--quick` and `--scale` change them. */
export interface Sizes {
  /**
   * Patients and readings per patient of the HTTP data set. PostgreSQL gets a table of
   * production-like size, so that one patient is a small share of it and the planner
   * chooses as it would in production.
   */
  httpPatients: number;
  httpReadingsPerPatient: Record<DbKind, number>;
  /** CSV rows per bulk request (each row carries 4 readings). */
  bulkRowsPerRequest: number;
  /** Generated CSV rows for the loading scenario, per database. */
  loadRows: Record<DbKind, number>;
  loadPatients: number;
  /** Stored readings for the analytics scenario, and how many of them change before v2. */
  analyticsReadings: number;
  analyticsPatients: number;
  analyticsChanges: number;
  /** Readings per patient for the history-length scaling scenario. */
  scalingHistories: number[];
  warmupSeconds: number;
  /** Requests per side before measuring (0: one warm-up chunk only), and the time cap. */
  warmupRequests: number;
  warmupCapSeconds: number;
}

export const USAGE = `usage: npm run bench -- [options]

  --quick              smoke mode: small data, short runs (numbers not judged; errors still fail)
  --only LIST          comma-separated scenarios or groups: http, http.patients, http.history,
                       http.upsert, http.bulk, load, analytics, scaling
  --db KIND            postgres | pglite | both (default: both when DATABASE_URL is set, else pglite)
  --connections N      HTTP connections (default 32)
  --duration S         seconds per measured HTTP run (default 10, quick 1)
  --rounds N           alternating A/B rounds per HTTP scenario (default 3, quick 1)
  --repeat N           repetitions of the load and analytics measurements (default 1)
  --scale F            multiply every data size by F (e.g. 0.1 for a validation run)
  --profile            run the API server under --cpu-prof and print its hottest functions
  --no-build           do not rebuild dist/ even when src/ is newer
  --keep               keep the scratch databases and the work directory
  -h, --help           show this help

PostgreSQL: set DATABASE_URL to any database on the server; the bench creates and drops
its own scratch databases next to it and never touches that database's data.`;

export class UsageError extends Error {}

function num(name: string, v: string | undefined, def: number, min: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new UsageError(`--${name} must be a number >= ${min} (got "${v}")`);
  return n;
}

/** Parses argv; returns 'help' for --help. */
export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        quick: { type: 'boolean' },
        only: { type: 'string' },
        db: { type: 'string' },
        connections: { type: 'string' },
        duration: { type: 'string' },
        rounds: { type: 'string' },
        repeat: { type: 'string' },
        scale: { type: 'string' },
        profile: { type: 'boolean' },
        'no-build': { type: 'boolean' },
        keep: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  const quick = values.quick === true;
  const adminUrl = env.DATABASE_URL?.trim() || undefined;
  const dbArg = (values.db as string | undefined) ?? (adminUrl ? 'both' : 'pglite');
  let dbs: DbKind[];
  if (dbArg === 'both') dbs = ['postgres', 'pglite'];
  else if (dbArg === 'postgres' || dbArg === 'pglite') dbs = [dbArg];
  else throw new UsageError(`--db must be postgres, pglite or both (got "${dbArg}")`);
  if (dbs.includes('postgres') && !adminUrl) {
    throw new UsageError('--db postgres needs DATABASE_URL (any database on the PostgreSQL server to use)');
  }
  if (adminUrl && !/^postgres(ql)?:\/\//.test(adminUrl)) throw new UsageError('DATABASE_URL must be a postgres:// URL');
  const only =
    typeof values.only === 'string'
      ? values.only
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : null;
  return {
    quick,
    only: only && only.length > 0 ? only : null,
    dbs,
    adminUrl,
    connections: Math.round(num('connections', values.connections as string | undefined, 32, 1)),
    duration: num('duration', values.duration as string | undefined, quick ? 1 : 10, 0.5),
    rounds: Math.round(num('rounds', values.rounds as string | undefined, quick ? 1 : 3, 1)),
    repeat: Math.round(num('repeat', values.repeat as string | undefined, 1, 1)),
    scale: num('scale', values.scale as string | undefined, 1, 0.0001),
    profile: values.profile === true,
    build: values['no-build'] !== true,
    keep: values.keep === true,
  };
}

/** Data sizes for the options: the sizes, or small ones in quick mode. */
export function sizesFor(o: Pick<BenchOptions, 'quick' | 'scale'>): Sizes {
  const s = (n: number, min = 1) => Math.max(min, Math.round(n * o.scale));
  if (o.quick) {
    return {
      httpPatients: s(100, 4),
      httpReadingsPerPatient: { postgres: s(40, 4), pglite: s(40, 4) },
      bulkRowsPerRequest: s(250, 1),
      loadRows: { postgres: s(20_000, 100), pglite: s(5_000, 100) },
      loadPatients: s(100, 4),
      analyticsReadings: s(100_000, 1_000),
      analyticsPatients: s(100, 4),
      analyticsChanges: s(1_000, 10),
      scalingHistories: [s(100, 8), s(1_000, 8), s(10_000, 8)],
      // A smoke run's numbers are not judged, so nothing needs warming up.
      warmupSeconds: 0,
      warmupRequests: 0,
      warmupCapSeconds: 1,
    };
  }
  return {
    httpPatients: s(1_000, 4),
    httpReadingsPerPatient: { postgres: s(2_000, 4), pglite: s(200, 4) },
    bulkRowsPerRequest: s(1_000, 1),
    loadRows: { postgres: s(1_000_000, 100), pglite: s(100_000, 100) },
    loadPatients: s(1_000, 4),
    analyticsReadings: s(10_000_000, 1_000),
    analyticsPatients: s(1_000, 4),
    analyticsChanges: s(10_000, 10),
    scalingHistories: [s(1_000, 8), s(10_000, 8), s(100_000, 8)],
    warmupSeconds: 2,
    warmupRequests: 5_000,
    warmupCapSeconds: 60,
  };
}
