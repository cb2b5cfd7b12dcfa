/**
 * The analytics invariant, checked on random histories: for any sequence of inserts,
 * updates, deletes, late readings, bulk SQL loads and job runs (v1 or v2), after a final v2
 * run the analytics store equals a from-scratch computation, bucket for bucket (min, max
 * and count exactly, the sum within a relative 1e-9, see SUM_RELATIVE_TOLERANCE), and
 * equals an in-memory model of the readings computed with the TypeScript bucket maths.
 */
import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Database, queryRows } from '../src/db/database.js';
import type { ReadingType } from '../src/domain/readings.js';
import {
  aggregateReadings,
  aggregatesAgree,
  bucketKey,
  SUM_RELATIVE_TOLERANCE,
} from '../src/modules/analytics/analytics.buckets.js';
import { type ComputedBucket, computeFromReadings, storedBuckets } from '../src/modules/analytics/analytics.engine.js';
import { bufferOf, etlInsert, newPatient, put, remove, runOk } from './helpers/analytics.js';
import { createTestDatabase } from './helpers/database.js';

let database: Database;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

const TYPES: ReadingType[] = ['glucose', 'weight'];
/** Three recent hours and one old one, so late readings and bucket collisions are common. */
const HOURS = ['2025-09-01T10', '2025-09-01T11', '2025-09-01T12', '2025-06-15T03'];
const MINUTES = ['00:00', '00:00.001', '15:30', '30:00', '59:59.999'];

const reading = fc.record({
  p: fc.integer({ min: 0, max: 1 }),
  type: fc.constantFrom(...TYPES),
  ts: fc
    .tuple(fc.constantFrom(...HOURS), fc.constantFrom(...MINUTES))
    .map(([h, m]) => new Date(`${h}:${m}Z`).toISOString()),
  value: fc.double({ min: 0.5, max: 500, noNaN: true, noDefaultInfinity: true }),
});

type Reading = typeof reading extends fc.Arbitrary<infer T> ? T : never;
type Op =
  | ({ kind: 'put' } & Reading)
  | ({ kind: 'etl' } & Reading)
  | { kind: 'delete'; pick: number }
  | { kind: 'run'; version: 1 | 2 };

const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: reading.map((r) => ({ kind: 'put' as const, ...r })), weight: 5 },
  { arbitrary: reading.map((r) => ({ kind: 'etl' as const, ...r })), weight: 2 },
  { arbitrary: fc.nat().map((pick) => ({ kind: 'delete' as const, pick })), weight: 3 },
  {
    arbitrary: fc.constantFrom(1 as const, 2 as const).map((version) => ({ kind: 'run' as const, version })),
    weight: 2,
  },
);

const keyOf = (b: ComputedBucket) => bucketKey(b.patientId, b.type, b.bucketStart);

function expectSameBuckets(actual: ComputedBucket[], expected: ComputedBucket[], what: string): void {
  expect(actual.map(keyOf), what).toEqual(expected.map(keyOf));
  expected.forEach((e, i) => {
    const a = actual[i];
    if (!a || !aggregatesAgree(a, e, SUM_RELATIVE_TOLERANCE)) {
      expect({ bucket: keyOf(e), ...a }, `${what}: bucket differs`).toEqual({ bucket: keyOf(e), ...e });
    }
  });
}

it('after a final v2 run, the analytics store equals a from-scratch computation', async () => {
  const db = database.db;
  await fc.assert(
    fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
      const pids = [await newPatient(db), await newPatient(db)];
      const pid = (p: number) => pids[p] ?? 0;
      /** The readings the test believes exist: "patient|type|iso" -> value. */
      const model = new Map<string, { patientId: number; type: ReadingType; timestamp: Date; value: number }>();
      const mkey = (patientId: number, type: string, iso: string) => `${patientId}|${type}|${iso}`;

      for (const o of ops) {
        if (o.kind === 'put') {
          await put(db, pid(o.p), o.type, o.ts, o.value);
          model.set(mkey(pid(o.p), o.type, o.ts), {
            patientId: pid(o.p),
            type: o.type,
            timestamp: new Date(o.ts),
            value: o.value,
          });
        } else if (o.kind === 'etl') {
          const inserted = await etlInsert(db, [{ patientId: pid(o.p), type: o.type, iso: o.ts, value: o.value }]);
          const k = mkey(pid(o.p), o.type, o.ts);
          expect(inserted).toBe(model.has(k) ? 0 : 1);
          if (!model.has(k))
            model.set(k, { patientId: pid(o.p), type: o.type, timestamp: new Date(o.ts), value: o.value });
        } else if (o.kind === 'delete') {
          const rows = await queryRows(
            db,
            sql`select id, patient_id, type, timestamp from biometrics
                where patient_id = any(${sql.param(pids)}::int[]) order by id`,
          );
          const victim = rows[o.pick % Math.max(rows.length, 1)];
          if (!victim) continue;
          await remove(db, Number(victim.id));
          const ts = victim.timestamp instanceof Date ? victim.timestamp : new Date(String(victim.timestamp));
          model.delete(mkey(Number(victim.patient_id), String(victim.type), ts.toISOString()));
        } else {
          await runOk(db, o.version);
        }
      }

      await runOk(db, 2);
      const stored = await storedBuckets(db, pids);
      expectSameBuckets(stored, await computeFromReadings(db, pids), 'analytics vs from-scratch SQL');
      const modelled = [...aggregateReadings(model.values()).values()].sort(
        (a, b) =>
          a.patientId - b.patientId ||
          a.type.localeCompare(b.type) ||
          a.bucketStart.getTime() - b.bucketStart.getTime(),
      );
      expectSameBuckets(stored, modelled, 'analytics vs in-memory model');
      expect(await bufferOf(db, pids)).toEqual([]);
    }),
    { numRuns: 40 },
  );
}, 600_000);
