import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase, queryRows } from '../src/db/database.js';
import { computeFromReadings, storedBuckets } from '../src/modules/analytics/analytics.engine.js';
import { listRuns } from '../src/modules/analytics/analytics.runs.repository.js';
import { erasePatient } from '../src/modules/patients/patients.service.js';
import { bufferOf, etlInsert, newPatient, put, remove, runJob, runOk } from './helpers/analytics.js';
import { createPgTestDatabase, createTestDatabase, TEST_DB } from './helpers/database.js';

let database: Database;
let db: Database['db'];
beforeAll(async () => {
  database = await createTestDatabase();
  db = database.db;
});
afterAll(async () => {
  await database?.close();
});

const H = (iso: string) => new Date(iso);
const bucket = (
  patientId: number,
  type: string,
  start: string,
  min: number,
  max: number,
  sum: number,
  count: number,
) => ({
  patientId,
  type,
  bucketStart: H(start),
  min,
  max,
  sum,
  count,
});

describe.each([1, 2] as const)('engine v%i', (version) => {
  it('creates a bucket per patient, type and UTC hour, and an upsert changes its bucket', async () => {
    const p = await newPatient(db);
    await put(db, p, 'glucose', '2025-04-01T10:05:00Z', 100);
    await put(db, p, 'glucose', '2025-04-01T10:50:00+00:00', 120);
    await put(db, p, 'glucose', '2025-04-01T11:00:00Z', 90);
    await put(db, p, 'weight', '2025-04-01T10:30:00+02:00', 70.5);
    const first = await runOk(db, version);
    expect(first.run).toMatchObject({ status: 'succeeded', version, trigger: 'manual', instance: 'test' });
    expect(await storedBuckets(db, [p])).toEqual([
      bucket(p, 'glucose', '2025-04-01T10:00:00Z', 100, 120, 220, 2),
      bucket(p, 'glucose', '2025-04-01T11:00:00Z', 90, 90, 90, 1),
      bucket(p, 'weight', '2025-04-01T08:00:00Z', 70.5, 70.5, 70.5, 1),
    ]);

    await put(db, p, 'glucose', '2025-04-01T10:50:00Z', 80.25); // same key: an update
    const second = await runOk(db, version);
    expect(second.run.bucketsTouched).toBe(1);
    expect(await storedBuckets(db, [p])).toEqual([
      bucket(p, 'glucose', '2025-04-01T10:00:00Z', 80.25, 100, 180.25, 2),
      bucket(p, 'glucose', '2025-04-01T11:00:00Z', 90, 90, 90, 1),
      bucket(p, 'weight', '2025-04-01T08:00:00Z', 70.5, 70.5, 70.5, 1),
    ]);
    expect(await bufferOf(db, [p])).toEqual([]);
  });

  it('deleting the last reading of a bucket removes its analytics row; deleting one of two updates it', async () => {
    const p = await newPatient(db);
    const a = await put(db, p, 'systolic', '2025-04-02T08:10:00Z', 120);
    const b = await put(db, p, 'systolic', '2025-04-02T08:20:00Z', 130);
    const c = await put(db, p, 'systolic', '2025-04-02T09:10:00Z', 125);
    await runOk(db, version);
    expect(await storedBuckets(db, [p])).toHaveLength(2);

    await remove(db, c.id);
    await remove(db, b.id);
    const run = await runOk(db, version);
    expect(run.run.bucketsTouched).toBe(2);
    expect(await storedBuckets(db, [p])).toEqual([bucket(p, 'systolic', '2025-04-02T08:00:00Z', 120, 120, 120, 1)]);

    await remove(db, a.id);
    await runOk(db, version);
    expect(await storedBuckets(db, [p])).toEqual([]);
  });

  it('a late reading for an old hour updates that hour, not the current one', async () => {
    const p = await newPatient(db);
    await put(db, p, 'diastolic', '2025-04-03T12:10:00Z', 80);
    await runOk(db, version);
    await put(db, p, 'diastolic', '2025-01-15T03:59:59.999Z', 70); // months late
    await put(db, p, 'diastolic', '2025-04-03T12:40:00Z', 90);
    await runOk(db, version);
    expect(await storedBuckets(db, [p])).toEqual([
      bucket(p, 'diastolic', '2025-01-15T03:00:00Z', 70, 70, 70, 1),
      bucket(p, 'diastolic', '2025-04-03T12:00:00Z', 80, 90, 170, 2),
    ]);
  });

  it('readings loaded with plain SQL (reading + buffer row, as the ETL does) reach the analytics', async () => {
    const p = await newPatient(db);
    const loaded = await etlInsert(db, [
      { patientId: p, type: 'weight', iso: '2025-04-04T07:00:00Z', value: 80.1 },
      { patientId: p, type: 'weight', iso: '2025-04-04T07:30:00Z', value: 79.9 },
      { patientId: p, type: 'glucose', iso: '2025-04-04T23:59:00Z', value: 140 },
    ]);
    expect(loaded).toBe(3);
    expect(await bufferOf(db, [p])).toHaveLength(3);
    const run = await runOk(db, version);
    expect(run.run.rowsConsumed).toBeGreaterThanOrEqual(3);
    expect(await storedBuckets(db, [p])).toEqual([
      bucket(p, 'glucose', '2025-04-04T23:00:00Z', 140, 140, 140, 1),
      bucket(p, 'weight', '2025-04-04T07:00:00Z', 79.9, 80.1, 80.1 + 79.9, 2),
    ]);
    expect(await bufferOf(db, [p])).toEqual([]);
  });

  it('a second run with no changes touches nothing and leaves the store as it was', async () => {
    const p = await newPatient(db);
    await put(db, p, 'glucose', '2025-04-05T01:00:00Z', 101.3);
    await put(db, p, 'glucose', '2025-04-05T01:01:00Z', 99.7);
    await runOk(db, version);
    const before = await queryRows(db, sql`select * from analytics where patient_id = ${p}`);
    const again = await runOk(db, version);
    expect(again.run.bucketsTouched).toBe(0);
    expect(await queryRows(db, sql`select * from analytics where patient_id = ${p}`)).toEqual(before);
  });
});

describe('v1 and v2 together', () => {
  it('v1 consumes the buffer rows it has already accounted for, so v2 has nothing to redo', async () => {
    const p = await newPatient(db);
    await put(db, p, 'glucose', '2025-05-01T10:00:00Z', 1);
    await runOk(db, 1);
    expect(await bufferOf(db, [p])).toEqual([]);
    const v2 = await runOk(db, 2);
    expect(v2.run).toMatchObject({ rowsConsumed: 0, bucketsTouched: 0 });
  });

  it('a bucket_start written by hand off the hour still names its hour', async () => {
    const p = await newPatient(db);
    await etlInsert(db, [{ patientId: p, type: 'glucose', iso: '2025-05-02T10:20:00Z', value: 5 }]);
    await queryRows(db, sql`delete from biometrics_hourly where patient_id = ${p}`);
    await queryRows(
      db,
      sql`insert into biometrics_hourly (patient_id, type, bucket_start) values (${p}, 'glucose', '2025-05-02T10:20:00Z')`,
    );
    await runOk(db, 2);
    expect(await storedBuckets(db, [p])).toEqual([bucket(p, 'glucose', '2025-05-02T10:00:00Z', 5, 5, 5, 1)]);
  });
});

describe('atomicity', () => {
  it.each([1, 2] as const)(
    'a v%i run that fails half-way is rolled back whole and recorded as failed',
    async (version) => {
      const p = await newPatient(db);
      await put(db, p, 'weight', '2025-06-01T10:00:00Z', 60);
      await runOk(db, version);
      await put(db, p, 'weight', '2025-06-01T10:00:00Z', 61);
      await put(db, p, 'weight', '2025-06-01T11:00:00Z', 62);
      const bufferBefore = await bufferOf(db, [p]);
      const storeBefore = await storedBuckets(db, [p]);

      const hooks =
        version === 2
          ? {
              afterConsume: async () => {
                throw new Error('simulated crash after consuming the buffer');
              },
            }
          : {
              onLocked: async () => {
                throw new Error('simulated crash');
              },
            };
      const failed = await runJob(db, version, { hooks });
      expect(failed.ran).toBe(true);
      if (!failed.ran) return;
      expect(failed.run).toMatchObject({
        status: 'failed',
        version,
        bucketsTouched: 0,
        rowsConsumed: 0,
        error: expect.stringContaining('simulated crash'),
      });
      expect(await bufferOf(db, [p])).toEqual(bufferBefore);
      expect(await storedBuckets(db, [p])).toEqual(storeBefore);
      const recorded = (await listRuns(db, 1, 0)).rows[0];
      expect(recorded).toEqual(failed.run);

      await runOk(db, version);
      expect(await storedBuckets(db, [p])).toEqual([
        bucket(p, 'weight', '2025-06-01T10:00:00Z', 61, 61, 61, 1),
        bucket(p, 'weight', '2025-06-01T11:00:00Z', 62, 62, 62, 1),
      ]);
    },
  );
});

describe('writes racing a v2 run', () => {
  it('a write landing between consume and recompute stays in the buffer and the next run applies it', async () => {
    const p = await newPatient(db);
    await put(db, p, 'glucose', '2025-07-01T10:00:00Z', 100);
    await put(db, p, 'glucose', '2025-07-01T12:00:00Z', 50);
    let racing: Promise<unknown> | undefined;
    const race = () =>
      Promise.all([
        put(db, p, 'glucose', '2025-07-01T10:30:00Z', 110), // a bucket this run consumed
        put(db, p, 'glucose', '2025-07-01T11:30:00Z', 300), // a bucket it did not
      ]);
    const run = await runOk(db, 2, {
      hooks: {
        afterConsume: async () => {
          racing = race();
          // PostgreSQL: another connection commits now, inside the run. PGlite is a single
          // session, so the write queues behind the run's transaction and commits after it.
          if (TEST_DB === 'postgres') await racing;
        },
      },
    });
    await racing;
    expect(run.run.rowsConsumed).toBe(2);
    expect(await bufferOf(db, [p])).toEqual([
      `${p}|glucose|2025-07-01T10:00:00.000Z`,
      `${p}|glucose|2025-07-01T11:00:00.000Z`,
    ]);
    const afterFirst = await storedBuckets(db, [p]);
    // The 10:00 bucket was recomputed after the consume: on PostgreSQL it already sees the
    // racing write (committed by then), on PGlite it does not; either way its buffer row stays.
    expect(afterFirst).toEqual([
      TEST_DB === 'postgres'
        ? bucket(p, 'glucose', '2025-07-01T10:00:00Z', 100, 110, 210, 2)
        : bucket(p, 'glucose', '2025-07-01T10:00:00Z', 100, 100, 100, 1),
      bucket(p, 'glucose', '2025-07-01T12:00:00Z', 50, 50, 50, 1),
    ]);

    await runOk(db, 2);
    expect(await bufferOf(db, [p])).toEqual([]);
    expect(await storedBuckets(db, [p])).toEqual([
      bucket(p, 'glucose', '2025-07-01T10:00:00Z', 100, 110, 210, 2),
      bucket(p, 'glucose', '2025-07-01T11:00:00Z', 300, 300, 300, 1),
      bucket(p, 'glucose', '2025-07-01T12:00:00Z', 50, 50, 50, 1),
    ]);
    expect(await storedBuckets(db, [p])).toEqual(await computeFromReadings(db, [p]));
  });

  it.runIf(TEST_DB === 'postgres')(
    'a write still uncommitted while a run executes is neither seen nor consumed, and the next run applies it',
    async () => {
      const p = await newPatient(db);
      await put(db, p, 'weight', '2025-07-02T09:00:00Z', 70);
      const pool = database.pool;
      if (!pool) throw new Error('no pool');
      const writer = await pool.connect();
      try {
        await writer.query('begin');
        await writer.query(
          `with up as (
             insert into biometrics (patient_id, type, value, unit, timestamp)
             values ($1, 'weight', 71, 'kg', '2025-07-02T09:30:00Z') returning patient_id, type, timestamp)
           insert into biometrics_hourly (patient_id, type, bucket_start)
           select patient_id, type, date_trunc('hour', timestamp, 'UTC') from up`,
          [p],
        );
        const run = await runOk(db, 2);
        expect(run.run.rowsConsumed).toBeGreaterThanOrEqual(1);
        expect(await storedBuckets(db, [p])).toEqual([bucket(p, 'weight', '2025-07-02T09:00:00Z', 70, 70, 70, 1)]);
        await writer.query('commit');
      } finally {
        writer.release();
      }
      expect(await bufferOf(db, [p])).toEqual([`${p}|weight|2025-07-02T09:00:00.000Z`]);
      await runOk(db, 2);
      expect(await storedBuckets(db, [p])).toEqual([bucket(p, 'weight', '2025-07-02T09:00:00Z', 70, 71, 141, 2)]);
      expect(await bufferOf(db, [p])).toEqual([]);
    },
  );
});

describe.each([1, 2] as const)('patient erased during a v%i run', (version) => {
  it.runIf(TEST_DB === 'postgres')(
    'the run waits for the erase, leaves the erased patient alone, and succeeds',
    async () => {
      const p = await newPatient(db);
      const other = await newPatient(db);
      await put(db, p, 'glucose', '2025-07-03T09:00:00Z', 90);
      await runOk(db, version);
      await put(db, p, 'glucose', '2025-07-03T09:30:00Z', 95); // changes a stored bucket
      await put(db, p, 'glucose', '2025-07-03T10:30:00Z', 99); // and creates a new one
      await put(db, other, 'glucose', '2025-07-03T10:30:00Z', 42);
      const pool = database.pool;
      if (!pool) throw new Error('no pool');
      const eraser = await pool.connect();
      try {
        await eraser.query('begin');
        await eraser.query('delete from patients where id = $1', [p]);
        const running = runJob(db, version);
        // Deterministic interleaving: commit the erase once the run is waiting for it.
        for (let i = 0; ; i++) {
          const waiting = await pool.query(
            `select count(*)::int as n from pg_stat_activity
             where datname = current_database() and wait_event_type = 'Lock'`,
          );
          if (waiting.rows[0]?.n > 0) break;
          if (i > 300) throw new Error('the run never waited for the erase');
          await new Promise((r) => setTimeout(r, 20));
        }
        await eraser.query('commit');
        const outcome = await running;
        expect(outcome.ran && outcome.run.status).toBe('succeeded');
      } finally {
        eraser.release();
      }
      expect(await storedBuckets(db, [p])).toEqual([]);
      expect(await storedBuckets(db, [other])).toEqual([
        bucket(other, 'glucose', '2025-07-03T10:00:00Z', 42, 42, 42, 1),
      ]);
      expect(await bufferOf(db, [p, other])).toEqual([]);
    },
  );
});

describe('patient erased while a v2 run holds consumed buffer rows', () => {
  it.runIf(TEST_DB === 'postgres')(
    'the erase waits for the run instead of deadlocking on a consumed buffer row',
    async () => {
      const p = await newPatient(db);
      await put(db, p, 'glucose', '2025-07-04T09:00:00Z', 90);
      const pool = database.pool;
      if (!pool) throw new Error('no pool');
      let erasing: Promise<unknown> | undefined;
      // The erase locks the patient, then deletes its buffer rows, which this run has just
      // consumed (and still holds): it must find the patient already locked by the run.
      const run = await runOk(db, 2, {
        hooks: {
          afterConsume: async () => {
            erasing = erasePatient({ db, now: () => new Date() }, null, p);
            for (let i = 0; ; i++) {
              const waiting = await pool.query(
                `select count(*)::int as n from pg_stat_activity
                 where datname = current_database() and wait_event_type = 'Lock'`,
              );
              if (waiting.rows[0]?.n > 0) break;
              if (i > 300) throw new Error('the erase never waited for the run');
              await new Promise((r) => setTimeout(r, 20));
            }
          },
        },
      });
      expect(run.run).toMatchObject({ status: 'succeeded', rowsConsumed: 1, bucketsTouched: 1 });
      expect(await erasing).toEqual({ ok: true, deleted_id: p, readings_deleted: 1 });
      expect(await storedBuckets(db, [p])).toEqual([]);
      expect(await bufferOf(db, [p])).toEqual([]);
    },
  );
});

describe('runs at the same time', () => {
  it('a second run while one holds the lock does nothing and records nothing', async () => {
    const p = await newPatient(db);
    await put(db, p, 'glucose', '2025-08-01T10:00:00Z', 10);
    const runsBefore = (await listRuns(db, 1, 0)).total;
    let second: Awaited<ReturnType<typeof runJob>> | undefined;
    const first = await runOk(db, 2, {
      instanceId: 'instance-a',
      hooks: {
        onLocked: async () => {
          second = await runJob(db, 2, { instanceId: 'instance-b', trigger: 'scheduled' });
        },
      },
    });
    expect(second).toEqual({ ran: false, reason: 'busy' });
    expect(first.run.instance).toBe('instance-a');
    expect((await listRuns(db, 1, 0)).total).toBe(runsBefore + 1);
    expect(await storedBuckets(db, [p])).toEqual([bucket(p, 'glucose', '2025-08-01T10:00:00Z', 10, 10, 10, 1)]);
  });

  it('a tick whose work a run started since then already did is skipped and records nothing', async () => {
    const p = await newPatient(db);
    await put(db, p, 'glucose', '2025-08-03T10:00:00Z', 5);
    const tickAt = new Date('2031-01-01T00:00:00Z');
    const first = await runOk(db, 2, { instanceId: 'a', trigger: 'scheduled', tickAt, now: () => tickAt });
    const runsAfterFirst = (await listRuns(db, 1, 0)).total;

    // Another instance whose timer fired a moment later, for the same tick.
    const late = await runJob(db, 2, { instanceId: 'b', trigger: 'scheduled', tickAt });
    expect(late).toEqual({ ran: false, reason: 'covered' });
    expect((await listRuns(db, 1, 0)).total).toBe(runsAfterFirst);

    // The next tick runs again.
    const next = new Date(tickAt.getTime() + 2000);
    const again = await runOk(db, 2, { instanceId: 'b', trigger: 'scheduled', tickAt: next, now: () => next });
    expect([first.run.instance, again.run.instance]).toEqual(['a', 'b']);
    expect(await storedBuckets(db, [p])).toEqual([bucket(p, 'glucose', '2025-08-03T10:00:00Z', 5, 5, 5, 1)]);
  });

  it.runIf(TEST_DB === 'postgres')(
    'two instances (separate pools) ticking at once: one run, the other skips, no duplicate rows',
    async () => {
      const created = await createPgTestDatabase();
      const a = await openDatabase({ databaseUrl: created.url, poolMax: 3 });
      const b = await openDatabase({ databaseUrl: created.url, poolMax: 3 });
      try {
        const p = await newPatient(a.db);
        await etlInsert(a.db, [
          { patientId: p, type: 'glucose', iso: '2025-08-02T10:00:00Z', value: 1 },
          { patientId: p, type: 'glucose', iso: '2025-08-02T10:10:00Z', value: 2 },
          { patientId: p, type: 'weight', iso: '2025-08-02T11:00:00Z', value: 3 },
        ]);
        // Deterministic overlap: instance B ticks while instance A holds the lock.
        let fromB: Awaited<ReturnType<typeof runJob>> | undefined;
        const fromA = await runOk(a.db, 2, {
          instanceId: 'a',
          trigger: 'scheduled',
          hooks: {
            onLocked: async () => {
              fromB = await runJob(b.db, 2, { instanceId: 'b', trigger: 'scheduled' });
            },
          },
        });
        expect(fromB).toEqual({ ran: false, reason: 'busy' });
        expect(fromA.run).toMatchObject({ instance: 'a', bucketsTouched: 2, rowsConsumed: 3 });

        // Free-running overlap: whatever the interleaving, the store ends up right and
        // together the runs wrote each bucket once.
        await etlInsert(a.db, [{ patientId: p, type: 'weight', iso: '2025-08-02T12:00:00Z', value: 4 }]);
        const outcomes = await Promise.all([
          runJob(a.db, 1, { instanceId: 'a', trigger: 'scheduled' }),
          runJob(b.db, 1, { instanceId: 'b', trigger: 'scheduled' }),
        ]);
        const ran = outcomes.flatMap((o) => (o.ran ? [o.run] : []));
        expect(ran.length).toBeGreaterThanOrEqual(1);
        expect(ran.every((r) => r.status === 'succeeded')).toBe(true);
        expect(ran.reduce((n, r) => n + r.bucketsTouched, 0)).toBe(1);

        const rows = await queryRows(
          a.db,
          sql`select patient_id, type, bucket_start, count(*)::int as n from analytics group by 1, 2, 3`,
        );
        expect(rows.map((r) => r.n)).toEqual([1, 1, 1]);
        expect(await storedBuckets(b.db, [p])).toEqual(await computeFromReadings(b.db, [p]));
        const runs = await listRuns(a.db, 10, 0);
        expect(runs.total).toBe(1 + ran.length);
      } finally {
        await a.close();
        await b.close();
        await created.drop();
      }
    },
  );
});
