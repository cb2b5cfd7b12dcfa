/**
 * The per-patient reading count deltas behind the history total: kept exact by the
 * triggers of migration 0004 through every door, folded by history reads and loads,
 * filled for existing readings by the migration, and never making writers wait.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type SQL, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, type DbOrTx, openDatabase, queryRows } from '../src/db/database.js';
import { MIGRATIONS_FOLDER } from '../src/db/migrate.js';
import { createTestApp, type TestApp, uniqueEmail } from './helpers/app.js';
import { createPgTestDatabase, TEST_DB } from './helpers/database.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

type Counts = Record<string, number>;

/** How many delta rows a patient has. */
async function deltaRows(db: DbOrTx, patientId: number): Promise<number> {
  const [r] = await queryRows<{ n: number }>(
    db,
    sql`select count(*)::int as n from biometrics_counts where patient_id = ${patientId}`,
  );
  return Number(r?.n);
}

/** Rows of `(patient_id, type, n)` as `patient:type` → n. */
async function countsBy(db: DbOrTx, query: SQL): Promise<Counts> {
  const rows = await queryRows<{ patient_id: number; type: string; n: string }>(db, query);
  return Object.fromEntries(rows.map((r) => [`${r.patient_id}:${r.type}`, Number(r.n)]));
}

/** The counts of some patients (their deltas summed), as `patient:type` → n. */
function counters(db: DbOrTx, patientIds: number[]): Promise<Counts> {
  return countsBy(
    db,
    sql`select patient_id, type, sum(n) as n from biometrics_counts where patient_id = any(${sql.param(patientIds)}::int[])
        group by 1, 2 having sum(n) <> 0 order by 1, 2`,
  );
}

/** The same numbers counted from the readings themselves. */
function counted(db: DbOrTx, patientIds: number[]): Promise<Counts> {
  return countsBy(
    db,
    sql`select patient_id, type, count(*) as n from biometrics
        where patient_id = any(${sql.param(patientIds)}::int[]) group by 1, 2 order by 1, 2`,
  );
}

async function newPatient(): Promise<{ id: number; email: string }> {
  const email = uniqueEmail('counts');
  const res = await t.call(t.adminKey, {
    method: 'POST',
    url: '/api/v1/patients',
    payload: { name: 'Count Tester', dob: '1970-01-01', gender: 'other', email },
  });
  expect(res.statusCode).toBe(201);
  return { id: res.json().id, email };
}

const upsert = (patient_id: number, type: string, timestamp: string, value: number) =>
  t.call(t.adminKey, { method: 'POST', url: '/api/v1/biometrics', payload: { patient_id, type, timestamp, value } });

const bulk = (payload: string, contentType: string) =>
  t.call(t.adminKey, {
    method: 'POST',
    url: '/api/v1/biometrics/bulk',
    headers: { 'content-type': contentType },
    payload,
  });

const total = async (query: string) => {
  const res = await t.call(t.adminKey, { method: 'GET', url: `/api/v1/biometrics?${query}` });
  expect(res.statusCode).toBe(200);
  return res.json().total as number;
};

describe('reading counters', () => {
  it('stay equal to count(*) through upserts, bulk JSON and CSV, deletes and a change of type', async () => {
    const a = await newPatient();
    const b = await newPatient();
    const ids = [a.id, b.id];

    expect((await upsert(a.id, 'glucose', '2025-03-01T08:00:00Z', 100)).statusCode).toBe(200);
    expect((await upsert(a.id, 'glucose', '2025-03-01T09:00:00Z', 101)).statusCode).toBe(200);
    const weight = await upsert(a.id, 'weight', '2025-03-01T08:00:00Z', 70);
    expect(weight.statusCode).toBe(200);
    // Same value (unchanged) and new value (update) at an existing key add nothing.
    expect((await upsert(a.id, 'glucose', '2025-03-01T08:00:00Z', 100)).statusCode).toBe(200);
    expect((await upsert(a.id, 'glucose', '2025-03-01T09:00:00Z', 105)).statusCode).toBe(200);
    expect(await counters(t.database.db, ids)).toEqual({ [`${a.id}:glucose`]: 2, [`${a.id}:weight`]: 1 });

    const items = [
      { patient_id: a.id, timestamp: '2025-03-01T08:00:00Z', type: 'glucose', value: 100 }, // unchanged
      { patient_id: a.id, timestamp: '2025-03-02T08:00:00Z', type: 'glucose', value: 99 }, // new
      { patient_id: b.id, timestamp: '2025-03-02T08:00:00Z', type: 'systolic', value: 120 }, // new
      { patient_id: b.id, timestamp: '2025-03-02T08:00:00Z', type: 'systolic', value: 120 }, // duplicate
      { patient_id: b.id, timestamp: '2025-03-02T08:00:00Z', type: 'diastolic', value: 80 }, // new
    ];
    const json = await bulk(JSON.stringify(items), 'application/json');
    expect(json.statusCode).toBe(200);
    expect(json.json().summary).toMatchObject({ inserted: 3, unchanged: 1, duplicate: 1, rejected: 0 });

    const csv = [
      'patient_email,timestamp,glucose_mg_dL,bp_systolic,bp_diastolic,weight_kg',
      `${b.email},2025-03-03T08:00:00,110,130,85,80.5`,
      `${b.email},2025-03-02T08:00:00,,120,80,`, // both already stored
    ].join('\n');
    const fromCsv = await bulk(csv, 'text/csv');
    expect(fromCsv.statusCode).toBe(200);
    expect(fromCsv.json().summary).toMatchObject({ inserted: 4, unchanged: 2, rejected: 0 });

    const expected = {
      [`${a.id}:glucose`]: 3,
      [`${a.id}:weight`]: 1,
      [`${b.id}:diastolic`]: 2,
      [`${b.id}:glucose`]: 1,
      [`${b.id}:systolic`]: 2,
      [`${b.id}:weight`]: 1,
    };
    expect(await counters(t.database.db, ids)).toEqual(expected);
    expect(await counted(t.database.db, ids)).toEqual(expected);

    const del = await t.call(t.adminKey, { method: 'DELETE', url: `/api/v1/biometrics/${weight.json().id}` });
    expect(del.statusCode).toBe(200);
    // No request changes a reading's patient or type; an operator's UPDATE still keeps the counts.
    await queryRows(
      t.database.db,
      sql`update biometrics set type = 'weight', unit = 'kg', timestamp = timestamp + interval '1 minute' where patient_id = ${b.id} and type = 'glucose'`,
    );
    const after = {
      [`${a.id}:glucose`]: 3,
      [`${b.id}:diastolic`]: 2,
      [`${b.id}:systolic`]: 2,
      [`${b.id}:weight`]: 2,
    };
    expect(await counters(t.database.db, ids)).toEqual(after);
    expect(await counted(t.database.db, ids)).toEqual(after);
  });

  it('give the history total without a time range, and a range is counted', async () => {
    const p = await newPatient();
    const items = Array.from({ length: 30 }, (_, i) => ({
      patient_id: p.id,
      timestamp: new Date(Date.UTC(2025, 0, 1, i)).toISOString(),
      type: i % 3 === 0 ? 'weight' : 'glucose',
      value: 70 + i,
    }));
    expect((await bulk(JSON.stringify(items), 'application/json')).statusCode).toBe(200);
    expect(await total(`patient_id=${p.id}&size=5`)).toBe(30);
    expect(await total(`patient_id=${p.id}&type=weight`)).toBe(10);
    expect(await total(`patient_id=${p.id}&type=systolic`)).toBe(0);
    expect(await total(`patient_id=${p.id}&from=2025-01-01T10:00:00Z`)).toBe(20);
    expect(await total(`patient_id=${p.id}&type=glucose&to=2025-01-01T06:00:00Z`)).toBe(4);
  });

  it('go with the patient when the patient is erased', async () => {
    const p = await newPatient();
    expect((await upsert(p.id, 'glucose', '2025-03-01T08:00:00Z', 100)).statusCode).toBe(200);
    expect(await counters(t.database.db, [p.id])).toEqual({ [`${p.id}:glucose`]: 1 });
    expect((await t.call(t.adminKey, { method: 'DELETE', url: `/api/v1/patients/${p.id}` })).statusCode).toBe(200);
    const left = await queryRows(t.database.db, sql`select 1 from biometrics_counts where patient_id = ${p.id}`);
    expect(left).toEqual([]);
  });

  it('are folded by a history read once they pile up, and the total stays exact', async () => {
    const p = await newPatient();
    for (let i = 0; i < 40; i++) {
      const ts = new Date(Date.UTC(2025, 1, 1, i)).toISOString();
      expect((await upsert(p.id, i % 2 ? 'glucose' : 'weight', ts, 60 + i)).statusCode).toBe(200);
    }
    expect(await deltaRows(t.database.db, p.id)).toBe(40);
    expect(await total(`patient_id=${p.id}&type=glucose`)).toBe(20);
    // That read found more than 32 deltas and folded them: one row per type is left.
    expect(await deltaRows(t.database.db, p.id)).toBe(2);
    expect(await counters(t.database.db, [p.id])).toEqual({ [`${p.id}:glucose`]: 20, [`${p.id}:weight`]: 20 });
    expect(await total(`patient_id=${p.id}`)).toBe(40);
    const [first] = await queryRows<{ id: string }>(
      t.database.db,
      sql`select id from biometrics where patient_id = ${p.id} and type = 'weight' order by id limit 1`,
    );
    const del = await t.call(t.adminKey, { method: 'DELETE', url: `/api/v1/biometrics/${first?.id}` });
    expect(del.statusCode).toBe(200);
    expect(await total(`patient_id=${p.id}&type=weight`)).toBe(19);
    expect(await deltaRows(t.database.db, p.id)).toBe(3);
  });

  it('are folded after an analytics run for patients nobody reads, and left alone below the threshold', async () => {
    const busy = await newPatient();
    const quiet = await newPatient();
    for (let i = 0; i < 36; i++) {
      const ts = new Date(Date.UTC(2025, 2, 1, i)).toISOString();
      expect((await upsert(busy.id, i % 2 ? 'glucose' : 'weight', ts, 60 + i)).statusCode).toBe(200);
    }
    for (let i = 0; i < 3; i++) {
      const ts = new Date(Date.UTC(2025, 2, 1, i)).toISOString();
      expect((await upsert(quiet.id, 'glucose', ts, 90 + i)).statusCode).toBe(200);
    }
    expect(await deltaRows(t.database.db, busy.id)).toBe(36);
    const run = await t.call(t.adminKey, { method: 'POST', url: '/api/v1/analytics/run', payload: { version: 2 } });
    expect(run.statusCode).toBe(200);
    // No history read happened: the run folded the busy patient's deltas into one row per type.
    expect(await deltaRows(t.database.db, busy.id)).toBe(2);
    expect(await deltaRows(t.database.db, quiet.id)).toBe(3);
    expect(await counters(t.database.db, [busy.id, quiet.id])).toEqual(
      await counted(t.database.db, [busy.id, quiet.id]),
    );
    expect(await counters(t.database.db, [busy.id])).toEqual({ [`${busy.id}:glucose`]: 18, [`${busy.id}:weight`]: 18 });
  });

  it.runIf(TEST_DB === 'postgres')(
    'never make a writer wait for another open transaction on the same patient',
    async () => {
      const p = await newPatient();
      const pool = t.database.pool;
      if (!pool) throw new Error('PostgreSQL test without a pool');
      const other = await pool.connect();
      try {
        // An open transaction that wrote a reading of p, as a loader session does while it
        // waits for its sibling session before committing.
        await other.query('begin');
        await other.query(
          `insert into biometrics (patient_id, type, value, unit, timestamp)
         values ($1, 'glucose', 90, 'mg/dL', '2025-06-01T08:00:00Z')`,
          [p.id],
        );
        const started = Date.now();
        const res = await upsert(p.id, 'glucose', '2025-06-01T09:00:00Z', 95);
        expect(res.statusCode).toBe(200);
        expect(Date.now() - started).toBeLessThan(2_000);
        await other.query('commit');
      } finally {
        other.release();
      }
      expect(await total(`patient_id=${p.id}`)).toBe(2);
    },
  );

  it.runIf(TEST_DB === 'postgres')(
    'stay exact under concurrent bulk writers and deletes, without deadlocks',
    async () => {
      const people = await Promise.all(Array.from({ length: 6 }, () => newPatient()));
      const ids = people.map((p) => p.id);
      const types = ['glucose', 'systolic', 'diastolic', 'weight'];
      // Every request touches every patient, in its own shuffled order, with overlapping keys.
      const request = (r: number) => {
        const items = [];
        for (let i = 0; i < 200; i++) {
          const p = ids[(i * 7 + r) % ids.length] as number;
          items.push({
            patient_id: p,
            type: types[(i + r) % 4],
            timestamp: new Date(Date.UTC(2025, 0, 1, (i * 13 + r * 5) % 300)).toISOString(),
            value: 50 + ((i + r) % 40),
          });
        }
        return bulk(JSON.stringify(items), 'application/json');
      };
      const results = await Promise.all(Array.from({ length: 12 }, (_, r) => request(r)));
      expect(results.map((r) => r.statusCode)).toEqual(results.map(() => 200));

      const some = await queryRows<{ id: string }>(
        t.database.db,
        sql`select id from biometrics where patient_id = any(${sql.param(ids)}::int[]) order by id limit 40`,
      );
      const deletes = some.map((r) =>
        t.call(t.adminKey, { method: 'DELETE', url: `/api/v1/biometrics/${r.id}` }).then((x) => x.statusCode),
      );
      const more = Array.from({ length: 6 }, (_, r) => request(100 + r).then((x) => x.statusCode));
      expect(await Promise.all([...deletes, ...more])).toEqual([...deletes.map(() => 200), ...more.map(() => 200)]);
      expect(await counters(t.database.db, ids)).toEqual(await counted(t.database.db, ids));
    },
  );
});

describe('migration 0005', () => {
  it('vacuums the count deltas after a fixed number of changes, not a share of the table', async () => {
    const [row] = await queryRows<{ reloptions: string[] }>(
      t.database.db,
      sql`select reloptions from pg_class where relname = 'biometrics_counts' and relkind = 'r'`,
    );
    expect([...(row?.reloptions ?? [])].sort()).toEqual([
      'autovacuum_vacuum_insert_scale_factor=0',
      'autovacuum_vacuum_insert_threshold=10000',
      'autovacuum_vacuum_scale_factor=0',
      'autovacuum_vacuum_threshold=2000',
    ]);
  });
});

describe('migration 0004', () => {
  let database: Database | undefined;
  let dropDatabase: (() => Promise<void>) | undefined;
  const dirs: string[] = [];
  afterAll(async () => {
    await database?.close();
    await dropDatabase?.();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** The committed migrations up to (not including) `tag`, as a folder the migrator reads. */
  function migrationsBefore(tag: string): string {
    const dir = mkdtempSync(path.join(tmpdir(), 'pp-migrations-'));
    dirs.push(dir);
    cpSync(MIGRATIONS_FOLDER, dir, { recursive: true });
    const journalFile = path.join(dir, 'meta', '_journal.json');
    const journal = JSON.parse(readFileSync(journalFile, 'utf8'));
    const at = journal.entries.findIndex((e: { tag: string }) => e.tag === tag);
    expect(at).toBeGreaterThan(0);
    journal.entries = journal.entries.slice(0, at);
    writeFileSync(journalFile, JSON.stringify(journal));
    return dir;
  }

  async function migrate(db: Database, folder: string): Promise<void> {
    const { migrate: run } =
      db.kind === 'pglite'
        ? await import('drizzle-orm/pglite/migrator')
        : await import('drizzle-orm/node-postgres/migrator');
    // biome-ignore lint/suspicious/noExplicitAny: the driver-specific type is erased in Database
    await run(db.db as any, { migrationsFolder: folder });
  }

  it('counts the readings stored before it, and a TRUNCATE clears the counters', async () => {
    if (TEST_DB === 'postgres') {
      const created = await createPgTestDatabase({ empty: true });
      dropDatabase = created.drop;
      database = await openDatabase({ databaseUrl: created.url, poolMax: 2 });
    } else {
      database = await openDatabase({});
    }
    const db = database.db;
    await migrate(database, migrationsBefore('0004_biometrics_counts'));
    const [p] = await queryRows<{ id: number }>(
      db,
      sql`insert into patients (name, dob, gender, email) values ('Before', '1970-01-01', 'other', 'before@example.org') returning id`,
    );
    const pid = Number(p?.id);
    await queryRows(
      db,
      sql`insert into biometrics (patient_id, type, value, unit, timestamp)
          select ${pid}, case when i % 2 = 0 then 'glucose' else 'weight' end, i, 'x', timestamptz '2025-01-01' + i * interval '1 hour'
          from generate_series(1, 25) as i`,
    );

    await migrate(database, MIGRATIONS_FOLDER);
    expect(await counters(db, [pid])).toEqual({ [`${pid}:glucose`]: 12, [`${pid}:weight`]: 13 });

    await queryRows(db, sql`truncate biometrics`);
    expect(await queryRows(db, sql`select * from biometrics_counts`)).toEqual([]);
  });
});
