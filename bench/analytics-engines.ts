/**
 * Analytics engine measurements on PostgreSQL, in process (no CLI start-up in the times):
 *
 * - v1 full recompute against the single `INSERT ... SELECT ... GROUP BY` that computes
 *   the same buckets (into a bare table, and into one shaped like `analytics` with its
 *   indexes), on an empty store and on a store that is already up to date;
 * - v2 after N random changes (updates, deletes, late inserts, written with their
 *   change-buffer rows as the application writes them) against v1 after as many changes.
 *
 * Usage: npx tsx bench/analytics-engines.ts [--readings 3000000] [--changes 10000] [--repeat 3] [--keep]
 * Server: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres); a scratch
 * database is created next to it and dropped at the end. Reports numbers, asserts nothing.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { type Database, openDatabase } from '../src/db/database.js';
import { runMigrations } from '../src/db/migrate.js';
import { runAnalyticsJob } from '../src/modules/analytics/analytics.jobs.js';

const { values: args } = parseArgs({
  options: {
    readings: { type: 'string', default: '3000000' },
    changes: { type: 'string', default: '10000' },
    repeat: { type: 'string', default: '3' },
    keep: { type: 'boolean', default: false },
  },
});
const READINGS = Number(args.readings);
const CHANGES = Number(args.changes);
const REPEAT = Number(args.repeat);
/** Readings per patient: 4 types every 15 minutes, so 4 readings per (patient, type, hour). */
const PER_PATIENT = 4_000;
const BUCKET = `date_trunc('hour', timestamp, 'UTC')`;
const GROUP_BY = `select patient_id, type, ${BUCKET}, min(value), max(value), sum(value), count(*)::int, now()
  from biometrics group by 1, 2, 3`;

const adminUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = `pp_bench_analytics_${process.pid}`;
const url = (() => {
  const u = new URL(adminUrl);
  u.pathname = `/${dbName}`;
  return u.toString();
})();

const quiet = () => {};
const log = { debug: quiet, info: quiet, warn: quiet, error: (o: object, m: string) => console.error(m, o) };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? Number.NaN;
const say = (m: string) => process.stderr.write(`${m}\n`);

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Loads readings with generate_series, indexes dropped and rebuilt (minutes faster at this size). */
async function seed(pool: pg.Pool): Promise<void> {
  const patients = Math.ceil(READINGS / PER_PATIENT);
  await pool.query(
    `insert into patients (name, dob, gender, email)
     select 'Bench ' || g, '1980-01-01', 'other', 'bench' || g || '@example.org' from generate_series(1, $1::int) g`,
    [patients],
  );
  const defs = await pool.query<{ def: string }>(
    `select indexdef as def from pg_indexes where tablename = 'biometrics' and indexname <> 'biometrics_pkey'`,
  );
  await pool.query(`alter table biometrics drop constraint biometrics_pkey,
    drop constraint biometrics_patient_id_patients_id_fk`);
  for (const { def } of defs.rows) await pool.query(`drop index ${/INDEX (\S+) ON/.exec(def)?.[1]}`);
  const slots = PER_PATIENT / 4;
  const chunk = Math.max(1, Math.floor(1_000_000 / PER_PATIENT));
  for (let first = 1; first <= patients; first += chunk) {
    await pool.query(
      `insert into biometrics (patient_id, type, value, unit, timestamp)
       select p, t.type, t.base + random() * t.spread, t.unit,
              '2026-01-31T20:00:00Z'::timestamptz - g * interval '15 minutes'
       from generate_series($1::int, $2::int) p
       cross join generate_series(0, $3::int - 1) g
       cross join (values ('glucose', 'mg/dL', 80.0, 90.0), ('systolic', 'mmHg', 105.0, 40.0),
                          ('diastolic', 'mmHg', 65.0, 25.0), ('weight', 'kg', 55.0, 45.0)) t(type, unit, base, spread)`,
      [first, Math.min(patients, first + chunk - 1), slots],
    );
    say(`  seeded ${Math.min(patients, first + chunk - 1) * PER_PATIENT} readings`);
  }
  await pool.query(`alter table biometrics add constraint biometrics_pkey primary key (patient_id, id),
    add constraint biometrics_patient_id_patients_id_fk foreign key (patient_id) references patients (id) on delete cascade`);
  for (const { def } of defs.rows) await pool.query(def);
  await pool.query('vacuum analyze');
}

/**
 * `n` random changes, as the application makes them (each with its buffer row): 80% value
 * updates, 10% deletes, 10% inserts of late readings 7 minutes after an existing one.
 */
async function randomChanges(pool: pg.Pool, n: number): Promise<number> {
  const r = await pool.query<{ n: number }>(
    `with bounds as (select max(id) as hi from biometrics),
     pick as (
       select distinct on (id) id, k from (
         select 1 + floor(random() * hi)::bigint as id, random() as k from bounds, generate_series(1, $1::int * 2)
       ) x limit $1::int
     ),
     upd as (
       update biometrics b set value = b.value + 1, updated_at = now() from pick
       where b.id = pick.id and pick.k < 0.8 returning b.patient_id, b.type, b.timestamp
     ),
     del as (
       delete from biometrics b using pick
       where b.id = pick.id and pick.k >= 0.8 and pick.k < 0.9 returning b.patient_id, b.type, b.timestamp
     ),
     ins as (
       insert into biometrics (patient_id, type, value, unit, timestamp)
       select b.patient_id, b.type, b.value, b.unit, b.timestamp + interval '7 minutes'
       from biometrics b join pick on b.id = pick.id and pick.k >= 0.9
       on conflict (patient_id, type, timestamp) do nothing
       returning patient_id, type, timestamp
     ),
     buf as (
       insert into biometrics_hourly (patient_id, type, bucket_start)
       select patient_id, type, ${BUCKET} from (select * from upd union all select * from del union all select * from ins) c
       returning 1
     )
     select count(*)::int as n from buf`,
    [n],
  );
  return r.rows[0]?.n ?? 0;
}

/** Buckets where the store and a fresh computation disagree (sums compared with relative 1e-9). */
async function mismatches(pool: pg.Pool): Promise<number> {
  const r = await pool.query<{ n: number }>(
    `with f as (select patient_id, type, ${BUCKET} as bucket_start, min(value) as min, max(value) as max,
                       sum(value) as sum, count(*)::int as count from biometrics group by 1, 2, 3)
     select count(*)::int as n from f full join analytics a using (patient_id, type, bucket_start)
     where a.count is null or f.count is null or a.min <> f.min or a.max <> f.max or a.count <> f.count
        or abs(a.sum - f.sum) > 1e-9 * greatest(abs(a.sum), abs(f.sum))`,
  );
  return r.rows[0]?.n ?? -1;
}

async function job(database: Database, version: 1 | 2) {
  let out: Awaited<ReturnType<typeof runAnalyticsJob>> | undefined;
  const ms = await timed(async () => {
    out = await runAnalyticsJob(
      { db: database.db, log, now: () => new Date(), instanceId: 'bench' },
      { version, trigger: 'manual' },
    );
  });
  if (!out?.ran || out.run.status !== 'succeeded') throw new Error(`v${version} run did not succeed`);
  return { ms, run: out.run, stats: out.stats };
}

async function main(): Promise<void> {
  await admin(`drop database if exists "${dbName}" with (force)`);
  await admin(`create database "${dbName}"`);
  const database = await openDatabase({ databaseUrl: url, poolMax: 4, statementTimeoutMs: 0 });
  const pool = database.pool as pg.Pool;
  try {
    await runMigrations(database);
    say(`seeding ${READINGS.toLocaleString('en-US')} readings`);
    await seed(pool);
    // LIKE does not copy storage parameters: the tables "like analytics" get its fillfactor too.
    const storage = (
      await pool.query<{ opts: string }>(
        `select coalesce(array_to_string(reloptions, ', '), '') as opts from pg_class where oid = 'analytics'::regclass`,
      )
    ).rows[0]?.opts;
    const withStorage = storage ? ` with (${storage})` : '';
    await pool.query(`create table scratch_bare (like analytics);
      create table scratch_indexed (like analytics including all)${withStorage};
      create table scratch_same (like analytics including all)${withStorage};
      alter table scratch_same add foreign key (patient_id) references patients (id) on delete cascade;`);
    const [{ buckets }] = (
      await pool.query<{ buckets: number }>(`select count(*)::int as buckets from (${GROUP_BY}) g`)
    ).rows as [{ buckets: number }];

    const results: Record<string, number[]> = {
      bare: [],
      indexed: [],
      same: [],
      v1Empty: [],
      v1Current: [],
      v2: [],
      v1Changed: [],
    };
    for (let i = 0; i < REPEAT; i++) {
      say(`round ${i + 1}/${REPEAT}`);
      await pool.query('truncate scratch_bare; checkpoint');
      results.bare?.push(await timed(() => pool.query(`insert into scratch_bare ${GROUP_BY}`)));
      await pool.query('truncate scratch_indexed; checkpoint');
      results.indexed?.push(await timed(() => pool.query(`insert into scratch_indexed ${GROUP_BY}`)));
      await pool.query('truncate scratch_same; checkpoint');
      results.same?.push(await timed(() => pool.query(`insert into scratch_same ${GROUP_BY}`)));
      await pool.query('truncate analytics; checkpoint');
      results.v1Empty?.push((await job(database, 1)).ms);
      await pool.query('checkpoint');
      results.v1Current?.push((await job(database, 1)).ms);

      const changedForV2 = await randomChanges(pool, CHANGES);
      await pool.query('checkpoint');
      const v2 = await job(database, 2);
      results.v2?.push(v2.ms);
      say(`  v2: ${changedForV2} buffer rows, ${v2.stats?.bucketsRecomputed} buckets, ${v2.ms.toFixed(0)} ms`);
      const wrong = await mismatches(pool);
      if (wrong !== 0) throw new Error(`after v2, ${wrong} buckets differ from a fresh computation`);

      await randomChanges(pool, CHANGES);
      await pool.query('checkpoint');
      const v1 = await job(database, 1);
      results.v1Changed?.push(v1.ms);
      say(`  v1 after changes: ${v1.run.bucketsTouched} buckets touched, ${v1.ms.toFixed(0)} ms`);
    }

    const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)])) as Record<string, number>;
    const s = (ms: number | undefined) => `${((ms ?? 0) / 1000).toFixed(3)} s`;
    const x = (a: number | undefined, b: number | undefined) => `${((a ?? 0) / (b ?? 1)).toFixed(2)}x`;
    const pct = (a: number | undefined, b: number | undefined) => `${(((a ?? 0) / (b ?? 1)) * 100).toFixed(2)}%`;
    const vsBaselines = (v: number | undefined) =>
      `${s(v)}  (${x(v, m.same)} same table, ${x(v, m.indexed)} no FK, ${x(v, m.bare)} bare)`;
    const rows = [
      ['readings', READINGS.toLocaleString('en-US')],
      ['buckets', buckets.toLocaleString('en-US')],
      ['GROUP BY into a bare table (no keys)', s(m.bare)],
      ['GROUP BY into a table like analytics, PK + index, no FK', s(m.indexed)],
      ['GROUP BY into a table like analytics (PK, index, FK)', s(m.same)],
      ['v1, empty store', vsBaselines(m.v1Empty)],
      ['v1, store up to date', vsBaselines(m.v1Current)],
      [`v1 after ${CHANGES} changes`, vsBaselines(m.v1Changed)],
      [
        `v2 after ${CHANGES} changes`,
        `${s(m.v2)}  (${pct(m.v2, m.v1Changed)} of v1 after changes, ${pct(m.v2, m.v1Current)} of v1 up to date, ${pct(m.v2, m.v1Empty)} of v1 on an empty store)`,
      ],
    ];
    console.log(`\nanalytics engines, PostgreSQL, median of ${REPEAT}\n`);
    for (const [k, v] of rows) console.log(`  ${k?.padEnd(58)} ${v}`);
    console.log(`\n  all runs: ${JSON.stringify(results, (_k, v) => (typeof v === 'number' ? Math.round(v) : v))}`);
  } finally {
    await database.close();
    if (!args.keep) await admin(`drop database if exists "${dbName}" with (force)`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
