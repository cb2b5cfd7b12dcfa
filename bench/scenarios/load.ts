/**
 * Loading: the ETL command (`npm run etl -- --patients F --readings F`, a child process)
 * on a generated reference-format CSV, against PostgreSQL's own COPY of the same
 * readings into a fresh table with the same indexes, in the same run. Also checks that
 * the loader's memory stays flat: the same command on a file a quarter of the size.
 */
import path from 'node:path';
import type { BenchContext } from '../lib/context.js';
import { DATA_SEED, loadFiles, toCopyFile } from '../lib/datasets.js';
import {
  commandEnv,
  onPath,
  runScript,
  runTimed,
  scriptSucceeds,
  shellQuote,
  type TimedResult,
} from '../lib/processes.js';
import { atLeast, atMost, measuredRow, skippedRow, valueAtMost } from '../lib/rows.js';
import { createScratchDb } from '../lib/scratch-db.js';
import { cohort, insertPatients } from '../lib/seed.js';
import { freshPgliteDir, openSql, type Sql } from '../lib/sql.js';
import type { DbKind, ResultRow, Scenario } from '../lib/types.js';

const NAME = 'load';
const COPY_TABLE = 'bench_copy_target';

/** Where the scenario's database lives, and how to reach it (PGlite: one process at a time). */
interface LoadDb {
  db: DbKind;
  url?: string;
  dataDir?: string;
  /** Runs `fn` with SQL access (PGlite: opened and closed around it). */
  with<T>(fn: (sql: Sql) => Promise<T>): Promise<T>;
  env(): NodeJS.ProcessEnv;
  close(): Promise<void>;
}

async function openLoadDb(ctx: BenchContext, db: DbKind): Promise<LoadDb> {
  const base = { LOG_LEVEL: 'warn', LOG_PRETTY: 'false', ETL_ON_STARTUP: 'false', ANALYTICS_SCHEDULER: 'false' };
  if (db === 'postgres') {
    const scratch = await createScratchDb(ctx.options.adminUrl as string, 'load');
    const sql = await openSql({ kind: 'postgres', url: scratch.url });
    return {
      db,
      url: scratch.url,
      with: (fn) => fn(sql),
      env: () => commandEnv({ ...base, DATABASE_URL: scratch.url }),
      async close() {
        await sql.close();
        if (!ctx.options.keep) await scratch.drop();
      },
    };
  }
  const dataDir = await freshPgliteDir(ctx, 'pglite-load');
  return {
    db,
    dataDir,
    async with(fn) {
      const sql = await openSql({ kind: 'pglite', dataDir });
      try {
        return await fn(sql);
      } finally {
        await sql.close();
      }
    },
    env: () => commandEnv({ ...base, DATABASE_URL: '', DATA_DIR: dataDir }),
    close: async () => {},
  };
}

async function countRows(sql: Sql, table: string): Promise<number> {
  return Number((await sql.query<{ n: number }>(`select count(*) as n from ${table}`))[0]?.n);
}

async function count(ldb: LoadDb, table: string): Promise<number> {
  return ldb.with((sql) => countRows(sql, table));
}

async function truncate(sql: Sql, tables: string[]): Promise<void> {
  await sql.exec(`truncate ${tables.join(', ')}`);
  if (sql.kind === 'postgres') await sql.exec('checkpoint');
}

async function reset(ldb: LoadDb, tables: string[]): Promise<void> {
  await ldb.with((sql) => truncate(sql, tables));
}

/** Counts `table`, then empties `tables`: one PGlite opening instead of two. */
async function countThenReset(ldb: LoadDb, table: string, tables: string[]): Promise<number> {
  return ldb.with(async (sql) => {
    const n = await countRows(sql, table);
    await truncate(sql, tables);
    return n;
  });
}

async function runCopy(ldb: LoadDb, copyFile: string, logFile: string): Promise<TimedResult> {
  const columns = '(patient_id, type, value, unit, timestamp)';
  if (ldb.db === 'postgres') {
    const cmd = `\\copy ${COPY_TABLE} ${columns} from ${shellQuote(copyFile)} with (format csv)`;
    return runTimed(`psql -X -q -v ON_ERROR_STOP=1 -d ${shellQuote(ldb.url as string)} -c ${shellQuote(cmd)}`, {
      env: commandEnv({}),
      logFile,
    });
  }
  const script = path.join(import.meta.dirname, '..', 'lib', 'pglite-copy.ts');
  const pgdata = path.join(ldb.dataDir as string, 'pgdata');
  return runTimed(
    [process.execPath, '--import', 'tsx', script, pgdata, COPY_TABLE, copyFile].map(shellQuote).join(' '),
    { env: commandEnv({}), logFile },
  );
}

function check(r: TimedResult, what: string): TimedResult {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.tail.split('\n').slice(-2).join(' | ')}`);
  return r;
}

async function run(ctx: BenchContext, db: DbKind): Promise<ResultRow[]> {
  const rows = ctx.sizes.loadRows[db];
  const patients = ctx.sizes.loadPatients;
  const logs = ctx.dir('logs');
  ctx.log(`[load ${db}] ${rows.toLocaleString('en-US')} CSV rows, ${patients} patients`);
  const etlAvailable = await scriptSucceeds('etl', ['--help'], path.join(logs, 'etl-help.log'));
  const full = await loadFiles(ctx, rows, patients);
  // The memory check needs a file large enough for its ratio to mean something: not in a smoke run.
  const quarter =
    etlAvailable && !ctx.quick ? await loadFiles(ctx, Math.max(1, Math.round(rows / 4)), patients) : undefined;
  const copyAvailable = db === 'pglite' || onPath('psql');
  const ldb = await openLoadDb(ctx, db);
  try {
    // Patients first, as the loader would store them, so the COPY rows have their ids.
    const idByEmail = await ldb.with(async (sql) => {
      const people = cohort(0, patients, DATA_SEED);
      const ids = await insertPatients(sql, people);
      await sql.exec(
        `create table ${COPY_TABLE} (like biometrics including all);
         alter table ${COPY_TABLE} add foreign key (patient_id) references patients (id) on delete cascade;`,
      );
      return new Map(people.map((p, i) => [p.email.trim().toLowerCase(), ids[i] as number]));
    });
    const copyFile = path.join(ctx.dir(`data-${rows}`), `copy-${db}.csv`);
    const readings = await toCopyFile(full.readingsFile, copyFile, idByEmail);
    ctx.log(`  ${readings.toLocaleString('en-US')} readings in the file`);

    const etl: TimedResult[] = [];
    const copy: TimedResult[] = [];
    const notes: string[] = [];
    // Each run starts on empty target tables (PostgreSQL: after a checkpoint). On PGlite every
    // SQL step opens the data directory (about a second), so steps are merged where they can be.
    for (let i = 0; i < ctx.options.repeat; i++) {
      if (etlAvailable) {
        if (i > 0 || db === 'postgres') await reset(ldb, ['biometrics', 'biometrics_hourly']);
        ctx.log(`  etl run ${i + 1}`);
        const r = check(
          await runScript('etl', ['--patients', full.patientsFile, '--readings', full.readingsFile], {
            env: ldb.env(),
            logFile: path.join(logs, `etl-${db}-${i + 1}.log`),
          }),
          'npm run etl',
        );
        etl.push(r);
        ctx.log(`    ${(r.wallMs / 1000).toFixed(1)} s, peak RSS ${r.peakRssMb?.toFixed(0)} MB`);
        const stored = copyAvailable
          ? await countThenReset(ldb, 'biometrics', [COPY_TABLE])
          : await count(ldb, 'biometrics');
        if (stored !== readings) notes.push(`ETL stored ${stored} of ${readings} readings`);
      } else if (copyAvailable) {
        await reset(ldb, [COPY_TABLE]);
      }
      if (copyAvailable) {
        ctx.log(`  COPY run ${i + 1}`);
        const r = check(await runCopy(ldb, copyFile, path.join(logs, `copy-${db}-${i + 1}.log`)), 'COPY');
        copy.push(r);
        ctx.log(`    ${(r.wallMs / 1000).toFixed(1)} s`);
        const stored = await count(ldb, COPY_TABLE);
        if (stored !== readings) throw new Error(`COPY stored ${stored} of ${readings} readings`);
      }
    }
    let quarterRun: TimedResult | undefined;
    if (quarter) {
      await reset(ldb, ['biometrics', 'biometrics_hourly']);
      ctx.log('  etl on the quarter-size file (memory check)');
      quarterRun = check(
        await runScript('etl', ['--patients', quarter.patientsFile, '--readings', quarter.readingsFile], {
          env: ldb.env(),
          logFile: path.join(logs, `etl-${db}-quarter.log`),
        }),
        'npm run etl (quarter file)',
      );
    }

    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? Number.NaN;
    const copyS = copy.length ? med(copy.map((r) => r.wallMs)) / 1000 : null;
    const copyRate = copyS ? readings / copyS : null;
    const baselineLabel = db === 'postgres' ? 'COPY FROM STDIN (psql \\copy)' : "PGlite COPY FROM '/dev/blob'";
    const common = { scenario: NAME, db };
    const q = ctx.quick;
    if (!etlAvailable) {
      return [
        skippedRow(
          { ...common, metric: 'readings/s', unit: 'readings/s', baseline: copyRate, baselineLabel },
          'npm run etl',
        ),
      ];
    }
    const etlS = med(etl.map((r) => r.wallMs)) / 1000;
    const rss = med(etl.map((r) => r.peakRssMb ?? Number.NaN));
    const out: ResultRow[] = [
      measuredRow(
        {
          ...common,
          metric: 'readings/s',
          unit: 'readings/s',
          value: readings / etlS,
          baseline: copyRate,
          baselineLabel,
          target: db === 'postgres' ? atLeast(0.5) : null,
          note: [
            `${rows.toLocaleString('en-US')} CSV rows = ${readings.toLocaleString('en-US')} readings`,
            ...notes,
          ].join('; '),
        },
        q,
      ),
      measuredRow({ ...common, metric: 'CSV rows/s', unit: 'rows/s', value: rows / etlS }, q),
      measuredRow({ ...common, metric: 'wall time', unit: 's', value: etlS, baseline: copyS, baselineLabel }, q),
      measuredRow(
        {
          ...common,
          metric: 'peak RSS, full vs 1/4 file',
          unit: 'MB',
          value: rss,
          baseline: quarterRun?.peakRssMb ?? null,
          baselineLabel: 'the same command on a file a quarter the size',
          target: db === 'postgres' ? atMost(1.5) : null,
          ...(quarterRun ? {} : { note: 'no quarter-size run in a smoke run' }),
        },
        q,
      ),
    ];
    if (db === 'postgres') {
      out.push(measuredRow({ ...common, metric: 'peak RSS', unit: 'MB', value: rss, target: valueAtMost(300) }, q));
    }
    return out;
  } finally {
    await ldb.close();
  }
}

export const loadScenario: Scenario = {
  name: NAME,
  group: 'load',
  title: 'ETL command vs COPY of the same readings',
  dbs: (selected) => selected,
  fixtures: () => [],
  run,
};
