/**
 * Analytics: with N stored readings, the v1 full recompute (`npm run analytics -- run
 * --version 1`) against the single set-based `INSERT ... SELECT ... GROUP BY` computing
 * the same buckets into a table shaped like `analytics`; then v2 after random changes
 * (written with the change buffer, as the application writes them) against v1, both as the
 * scheduler runs it (inside the server) and from the command line.
 */
import path from 'node:path';
import type { BenchContext } from '../lib/context.js';
import { commandEnv, runScript, scriptSucceeds } from '../lib/processes.js';
import { atMost, below, measuredRow, skippedRow } from '../lib/rows.js';
import { createScratchDb } from '../lib/scratch-db.js';
import { cohort, insertPatients, insertReadings } from '../lib/seed.js';
import { declaredRoutes, startAppServer } from '../lib/servers.js';
import { openSql, type Sql, timeMs } from '../lib/sql.js';
import type { DbKind, ResultRow, Scenario } from '../lib/types.js';

const NAME = 'analytics';
const SQL_TABLE = 'bench_analytics_sql';
const BUCKET = `date_trunc('hour', "timestamp", 'UTC')`;

/** Aggregate expression for each known column of `analytics`. */
const EXPRESSIONS: Record<string, string> = {
  patient_id: 'patient_id',
  type: 'type',
  bucket_start: BUCKET,
  bucket_end: `${BUCKET} + interval '1 hour'`,
  min: 'min(value)',
  max: 'max(value)',
  sum: 'sum(value)',
  avg: 'avg(value)',
  count: 'count(*)',
  computed_at: 'now()',
};

/** The set-based statement for the current shape of the analytics table. */
async function setBasedInsert(sql: Sql): Promise<string> {
  const cols = await sql.query<{ column_name: string; is_nullable: string; column_default: string | null }>(
    `select column_name, is_nullable, column_default from information_schema.columns
     where table_schema = current_schema() and table_name = 'analytics' order by ordinal_position`,
  );
  const names: string[] = [];
  const exprs: string[] = [];
  for (const c of cols) {
    const e = EXPRESSIONS[c.column_name];
    if (e) {
      names.push(`"${c.column_name}"`);
      exprs.push(e);
    } else if (c.is_nullable === 'NO' && c.column_default === null) {
      throw new Error(`analytics has a column the baseline cannot fill: ${c.column_name}`);
    }
  }
  return `insert into ${SQL_TABLE} (${names.join(', ')})
    select ${exprs.join(', ')} from biometrics group by patient_id, type, ${BUCKET}`;
}

interface JobTime {
  wallMs: number;
  /** Duration the job itself recorded in analytics_runs (without process start-up). */
  jobMs: number | null;
}

async function runJob(ctx: BenchContext, sql: Sql, url: string, version: 1 | 2, log: string): Promise<JobTime> {
  const before = await lastRunId(sql);
  const r = await runScript('analytics', ['run', '--version', String(version)], {
    env: commandEnv({ DATABASE_URL: url, LOG_LEVEL: 'warn', LOG_PRETTY: 'false', ANALYTICS_SCHEDULER: 'false' }),
    logFile: path.join(ctx.dir('logs'), log),
  });
  if (r.code !== 0) throw new Error(`analytics run --version ${version} failed (exit ${r.code}): ${r.tail}`);
  let jobMs: number | null = null;
  try {
    const rows = await sql.query<{ ms: number | null; status: string }>(
      `select extract(epoch from finished_at - started_at) * 1000 as ms, status from analytics_runs
       where id > $1 and version = $2 order by id desc limit 1`,
      [before, version],
    );
    const ms = rows[0]?.ms;
    if (ms !== null && ms !== undefined && Number(ms) > 0) jobMs = Number(ms);
  } catch {
    // no run log on this build: the wall time stands
  }
  return { wallMs: r.wallMs, jobMs };
}

async function lastRunId(sql: Sql): Promise<number> {
  try {
    return Number((await sql.query<{ id: number | null }>('select max(id) as id from analytics_runs'))[0]?.id ?? 0);
  } catch {
    return 0;
  }
}

const jobOrWall = (t: JobTime) => t.jobMs ?? t.wallMs;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? Number.NaN;

/** Rounds of v2 runs in a full run (each way); quick mode runs one. */
const V2_ROUNDS = 3;

/**
 * One v2 run through the running server (`POST /api/v1/analytics/run`), as the scheduler
 * runs it: the server's job handle and its kept connection. Returns the run's recorded
 * duration (started_at to finished_at).
 */
async function serverRun(url: string, key: string): Promise<number> {
  const res = await fetch(`${url}/api/v1/analytics/run`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ version: 2 }),
    signal: AbortSignal.timeout(600_000),
  });
  const body = (await res.json()) as { status?: string; started_at?: string; finished_at?: string | null };
  if (!res.ok || body.status !== 'succeeded' || !body.started_at || !body.finished_at) {
    throw new Error(`POST /api/v1/analytics/run answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
  }
  return Date.parse(body.finished_at) - Date.parse(body.started_at);
}

/** Changes `n` random readings in one statement, with their buckets in the change buffer. */
async function randomChanges(sql: Sql, n: number): Promise<number> {
  const rows = await sql.query<{ n: number }>(
    `with bounds as (select min(id) as lo, max(id) as hi from biometrics),
     pick as (
       select distinct lo + floor(random() * (hi - lo + 1))::bigint as id
       from bounds, generate_series(1, $1::int * 2) limit $1::int
     ),
     ch as (
       update biometrics b set value = b.value + 1, updated_at = now() from pick
       where b.id = pick.id returning b.patient_id, b.type, b.timestamp
     ),
     buf as (
       insert into biometrics_hourly (patient_id, type, bucket_start)
       select patient_id, type, date_trunc('hour', timestamp, 'UTC') from ch returning 1
     )
     select count(*) as n from buf`,
    [n],
  );
  return Number(rows[0]?.n ?? 0);
}

interface Fingerprint {
  buckets: number;
  readings: number;
  total: number;
}

/** Buckets, readings counted and the sum of sums: a cheap equality check of two stores. */
async function fingerprint(sql: Sql, table: string): Promise<Fingerprint | null> {
  try {
    const [r] = await sql.query<Fingerprint>(
      `select count(*) as buckets, coalesce(sum(count), 0) as readings, coalesce(sum(sum), 0) as total from ${table}`,
    );
    return { buckets: Number(r?.buckets ?? 0), readings: Number(r?.readings ?? 0), total: Number(r?.total ?? 0) };
  } catch {
    return null; // a store without count/sum columns: not comparable this way
  }
}

/** 'same', 'different' or 'unknown' (when a store cannot be fingerprinted). */
function compareStores(a: Fingerprint | null, b: Fingerprint | null): 'same' | 'different' | 'unknown' {
  if (!a || !b) return 'unknown';
  const close = Math.abs(a.total - b.total) <= 1e-9 * Math.abs(b.total) + 1e-6;
  return a.buckets === b.buckets && a.readings === b.readings && close ? 'same' : 'different';
}

async function run(ctx: BenchContext, db: DbKind): Promise<ResultRow[]> {
  if (db !== 'postgres')
    throw new Error('the analytics scenario needs PostgreSQL (the CLI and the SQL share one server)');
  const { analyticsReadings: total, analyticsPatients: patients, analyticsChanges: changes } = ctx.sizes;
  const q = ctx.quick;
  const common = { scenario: NAME, db };
  const available = await scriptSucceeds('analytics', ['--help'], path.join(ctx.dir('logs'), 'analytics-help.log'));
  const scratch = await createScratchDb(ctx.options.adminUrl as string, 'analytics');
  const sql = await openSql({ kind: 'postgres', url: scratch.url });
  try {
    ctx.log(`[analytics ${db}] seeding ${total.toLocaleString('en-US')} readings`);
    const ids = await insertPatients(sql, cohort(0, patients));
    const perPatient = Math.ceil(total / patients);
    const stored = await insertReadings(sql, {
      patientIds: ids,
      perPatient,
      end: new Date('2026-01-31T20:00:00Z'),
      stepMinutes: 15,
      log: (m) => ctx.log(m),
    });
    // Seeded rows are the starting state, not changes: empty the buffer.
    await sql.exec('truncate biometrics_hourly');
    await sql.exec('vacuum analyze');
    // LIKE does not copy storage parameters (the store's fillfactor): copied by hand.
    const storage = (
      await sql.query<{ opts: string }>(
        `select coalesce(array_to_string(reloptions, ', '), '') as opts from pg_class where oid = 'analytics'::regclass`,
      )
    )[0]?.opts;
    await sql.exec(
      `create table ${SQL_TABLE} (like analytics including all)${storage ? ` with (${storage})` : ''};
       alter table ${SQL_TABLE} add foreign key (patient_id) references patients (id) on delete cascade;`,
    );
    const insert = await setBasedInsert(sql);
    const sizeNote = `${stored.toLocaleString('en-US')} readings, ${patients.toLocaleString('en-US')} patients`;

    const v1: JobTime[] = [];
    const set: number[] = [];
    for (let i = 0; i < ctx.options.repeat; i++) {
      if (available) {
        await sql.exec('checkpoint');
        ctx.log(`  v1 run ${i + 1}`);
        const t = await runJob(ctx, sql, scratch.url, 1, `analytics-v1-${i + 1}.log`);
        v1.push(t);
        ctx.log(`    ${(jobOrWall(t) / 1000).toFixed(2)} s${t.jobMs === null ? ' (wall)' : ''}`);
      }
      await sql.exec(`truncate ${SQL_TABLE}; checkpoint`);
      ctx.log(`  set-based SQL run ${i + 1}`);
      const ms = await timeMs(() => sql.exec(insert));
      set.push(ms);
      ctx.log(`    ${(ms / 1000).toFixed(2)} s`);
    }
    const setS = median(set) / 1000;
    const baselineLabel = 'one INSERT ... SELECT ... GROUP BY';
    if (!available) {
      return [
        skippedRow(
          { ...common, metric: 'v1 full recompute', unit: 's', baseline: setS, baselineLabel, target: atMost(1.5) },
          'npm run analytics',
        ),
        skippedRow(
          { ...common, metric: `v2 after ${changes.toLocaleString('en-US')} changes`, unit: 's' },
          'npm run analytics',
        ),
      ];
    }
    const notes: string[] = [];
    const v1Store = await fingerprint(sql, 'analytics');
    const sqlStore = await fingerprint(sql, SQL_TABLE);
    if (compareStores(v1Store, sqlStore) === 'different') {
      notes.push(`v1 result differs from the SQL: ${JSON.stringify(v1Store)} vs ${JSON.stringify(sqlStore)}`);
    }
    const v1S = median(v1.map(jobOrWall)) / 1000;
    const timedBy = v1.every((t) => t.jobMs !== null) ? 'job time from analytics_runs' : 'CLI wall time';
    const rows: ResultRow[] = [
      measuredRow(
        {
          ...common,
          metric: 'v1 full recompute',
          unit: 's',
          value: v1S,
          baseline: setS,
          baselineLabel,
          target: atMost(1.5),
          note: [`${sizeNote}; ${(sqlStore?.buckets ?? 0).toLocaleString('en-US')} buckets; ${timedBy}`, ...notes].join(
            '; ',
          ),
        },
        q,
      ),
      measuredRow(
        { ...common, metric: 'v1 CLI wall time', unit: 's', value: median(v1.map((t) => t.wallMs)) / 1000 },
        q,
      ),
    ];

    // v2 after random changes, two ways in alternating rounds: inside the server, as the
    // scheduler runs it, on the job connection the server keeps between runs; and from the
    // command line, a new process with a new connection. Each run follows its own changes and
    // a checkpoint. v1 first drains what its runs left (normally nothing).
    const left = await sql.query<{ n: number }>('select count(*)::int as n from biometrics_hourly');
    if (Number(left[0]?.n) > 0) await runJob(ctx, sql, scratch.url, 2, 'analytics-v2-drain.log');
    const server = await startAppServer({
      db: 'postgres',
      databaseUrl: scratch.url,
      adminKey: ctx.adminKey,
      logFile: path.join(ctx.dir('logs'), 'analytics-server.log'),
    });
    const inServer: number[] = [];
    const fromCli: JobTime[] = [];
    let changed = 0;
    try {
      const routes = await declaredRoutes(server.url);
      const viaServer = routes === null || routes.has('POST /api/v1/analytics/run');
      // The scheduler's connection has run before in any steady state: one untimed run.
      if (viaServer && !q) {
        await randomChanges(sql, changes);
        await serverRun(server.url, ctx.adminKey);
      }
      for (let i = 0; i < (q ? 1 : V2_ROUNDS); i++) {
        changed = await randomChanges(sql, changes);
        await sql.exec('checkpoint');
        const t = await runJob(ctx, sql, scratch.url, 2, `analytics-v2-${i + 1}.log`);
        fromCli.push(t);
        ctx.log(`  v2 after ${changed} changes, command line: ${(jobOrWall(t) / 1000).toFixed(3)} s`);
        if (!viaServer) continue;
        changed = await randomChanges(sql, changes);
        await sql.exec('checkpoint');
        const ms = await serverRun(server.url, ctx.adminKey);
        inServer.push(ms);
        ctx.log(`  v2 after ${changed} changes, in the server: ${(ms / 1000).toFixed(3)} s`);
      }
    } finally {
      await server.stop();
    }
    await sql.exec(`truncate ${SQL_TABLE}`);
    await sql.exec(insert);
    const after = await fingerprint(sql, 'analytics');
    const expected = await fingerprint(sql, SQL_TABLE);
    const same = compareStores(after, expected);
    const v2Note =
      same === 'same'
        ? 'after the v2 runs the store equals the set-based SQL (buckets, counts, sums)'
        : same === 'different'
          ? `after the v2 runs the store differs from the SQL: ${JSON.stringify(after)} vs ${JSON.stringify(expected)}`
          : 'store not compared (no count/sum columns)';
    const cliS = median(fromCli.map(jobOrWall)) / 1000;
    const cliTimedBy = fromCli.every((t) => t.jobMs !== null) ? 'job time from analytics_runs' : 'CLI wall time';
    const metric = `v2 after ${changed.toLocaleString('en-US')} changes`;
    const v2Row = { ...common, unit: 's', baseline: v1S, baselineLabel: 'v1 full recompute' };
    const of = (n: number) => `median of ${n} run${n === 1 ? '' : 's'}`;
    if (inServer.length > 0) {
      rows.push(
        measuredRow(
          {
            ...v2Row,
            metric,
            value: median(inServer) / 1000,
            target: below(0.02),
            note: `${v2Note}; in the server, as the scheduler runs it, on the job connection it keeps (${q ? 'no' : 'one'} untimed run first); ${of(inServer.length)}; job time from the run record`,
          },
          q,
        ),
        measuredRow(
          {
            ...v2Row,
            metric: `${metric}, command line`,
            value: cliS,
            note: `a new process and connection (the new backend maps the shared buffers it touches, page by page); ${of(fromCli.length)}; ${cliTimedBy}`,
          },
          q,
        ),
      );
    } else {
      rows.push(
        measuredRow(
          {
            ...v2Row,
            metric,
            value: cliS,
            target: below(0.02),
            note: `${v2Note}; command line (this build has no POST /api/v1/analytics/run); ${of(fromCli.length)}; ${cliTimedBy}`,
          },
          q,
        ),
      );
    }
    return rows;
  } finally {
    await sql.close();
    if (!ctx.options.keep) await scratch.drop();
  }
}

export const analyticsScenario: Scenario = {
  name: NAME,
  group: 'analytics',
  title: 'v1 full recompute vs set-based SQL; v2 incremental vs v1',
  dbs: (selected) => (selected.includes('postgres') ? ['postgres'] : []),
  fixtures: () => [],
  run,
};
