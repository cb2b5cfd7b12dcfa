/**
 * Audit write cost: group commit (the default AuditWriter) against one INSERT per event
 * (maxBatch 1), with many requests in flight. Runs on a fresh in-memory PGlite, and on
 * PostgreSQL too when BENCH_DATABASE_URL points at a server (a scratch database is
 * created and dropped).
 *
 *   npx tsx bench/audit-group-commit.ts [concurrency=64] [events=4000]
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { type Database, openDatabase } from '../src/db/database.js';
import { runMigrations } from '../src/db/migrate.js';
import { insertAuditEvents } from '../src/modules/audit/audit.repository.js';
import { AuditWriter } from '../src/modules/audit/audit.writer.js';

const concurrency = Number(process.argv[2] ?? 64);
const total = Number(process.argv[3] ?? 4000);

const event = (n: number) => ({
  action: 'GET /api/v1/patients/:id',
  method: 'GET',
  route: '/api/v1/patients/:id',
  status: 200,
  outcome: 'allowed',
  keyId: 1,
  role: 'clinician',
  patientIds: [n],
  requestId: `bench-${n}`,
  clientIp: '10.0.0.1',
});

/** Baseline: every request runs its own INSERT (concurrently, through the pool). */
async function direct(database: Database): Promise<{ perSec: number }> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next += 1;
        await insertAuditEvents(database.db, [event(next)]);
      }
    }),
  );
  return { perSec: Math.round(total / ((performance.now() - started) / 1000)) };
}

async function run(database: Database, maxBatch: number): Promise<{ perSec: number; batches: number }> {
  const writer = new AuditWriter(database.db, { maxBatch });
  let next = 0;
  const started = performance.now();
  // Each worker is one request: it awaits its event's commit before "responding".
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next += 1;
        await writer.record(event(next));
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { perSec: Math.round(total / seconds), batches: writer.stats.batches };
}

async function bench(label: string, database: Database): Promise<void> {
  await runMigrations(database);
  const own = await direct(database);
  const grouped = await run(database, 500);
  console.log(
    `${label}: concurrency ${concurrency}, ${total} events\n` +
      `  one INSERT per request: ${own.perSec} events/s (${total} statements)\n` +
      `  group commit:           ${grouped.perSec} events/s (${grouped.batches} statements, ` +
      `${(total / grouped.batches).toFixed(1)} events each)`,
  );
}

const memory = await openDatabase({});
try {
  await bench('PGlite (in memory)', memory);
} finally {
  await memory.close();
}

const url = process.env.BENCH_DATABASE_URL;
if (url) {
  const name = `pp_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`create database "${name}"`);
  const u = new URL(url);
  u.pathname = `/${name}`;
  const database = await openDatabase({ databaseUrl: u.toString(), poolMax: 10 });
  try {
    await bench('PostgreSQL (pool of 10)', database);
  } finally {
    await database.close();
    await admin.query(`drop database "${name}" with (force)`);
    await admin.end();
  }
}
