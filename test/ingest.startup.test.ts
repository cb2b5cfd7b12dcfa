import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, queryRows } from '../src/db/database.js';
import { runStartupLoad } from '../src/modules/ingest/ingest.startup.js';
import { createTestDatabase } from './helpers/database.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/ingest-dirty/', import.meta.url));
const silent = { info() {}, warn() {} };

let database: Database;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

function counter() {
  return {
    total: 0,
    inc(n: number) {
      this.total += n;
    },
  };
}

describe('the start-up load', () => {
  it('loads into an empty database, feeds the metrics, and writes one audit event per file', async () => {
    const metrics = { readingsIngested: counter(), loaderRejectedRows: counter() };
    const report = await runStartupLoad(
      { database, log: silent, now: () => new Date('2026-02-01T00:00:00Z'), metrics },
      {
        etlPatientsFile: `${FIXTURES}patients.json`,
        etlReadingsFile: `${FIXTURES}readings.csv`,
        etlShiftToNow: false,
      },
      fileURLToPath(new URL('../', import.meta.url)),
    );
    const readings = report?.readings;
    if (!readings) throw new Error('the start-up load did not run');
    expect(report.patients?.inserted).toBe(8);
    expect(metrics.readingsIngested.total).toBe(
      readings.readings.inserted + readings.readings.updated + readings.readings.unchanged,
    );
    expect(metrics.readingsIngested.total).toBeGreaterThan(0);
    expect(metrics.loaderRejectedRows.total).toBe(readings.rows.rejected);

    const events = await queryRows<{ action: string; outcome: string; n: number; detail: Record<string, unknown> }>(
      database.db,
      sql`select action, outcome, cardinality(patient_ids) as n, detail from audit_events
          where action like 'startup load %' order by id`,
    );
    const [patientsCount] = await queryRows<{ n: number }>(database.db, sql`select count(*)::int as n from patients`);
    expect(events.map((e) => [e.action, e.outcome, Number(e.n)])).toEqual([
      ['startup load patients', 'allowed', Number(patientsCount?.n)],
      ['startup load readings', 'allowed', Number(patientsCount?.n)],
    ]);
    expect(events[0]?.detail).toEqual({
      via: 'startup',
      file: 'patients.json',
      counts: {
        records: 8,
        inserted: 8,
        updated: 0,
        unchanged: 0,
        duplicate: 0,
        rejected: 0,
        rejectedByReason: {},
      },
    });
    expect(events[1]?.detail).toEqual({
      via: 'startup',
      file: 'readings.csv',
      counts: JSON.parse(JSON.stringify({ rows: readings.rows, readings: readings.readings })),
    });

    // A database with patients is left alone: no load, no event.
    expect(
      await runStartupLoad(
        { database, log: silent, now: () => new Date() },
        {
          etlPatientsFile: `${FIXTURES}patients.json`,
          etlReadingsFile: `${FIXTURES}readings.csv`,
          etlShiftToNow: false,
        },
        '/',
      ),
    ).toBeUndefined();
    const [after] = await queryRows<{ n: number }>(
      database.db,
      sql`select count(*)::int as n from audit_events where action like 'startup load %'`,
    );
    expect(Number(after?.n)).toBe(2);
  });
});
