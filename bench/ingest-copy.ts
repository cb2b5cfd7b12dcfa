/**
 * The loader against PostgreSQL's own COPY, side by side in one run: the same readings
 * into the same indexed table, each in a fresh database.
 *
 *   npx tsx bench/ingest-copy.ts --patients DIR/patients.json --readings DIR/readings.csv \
 *     [--admin-url postgres://postgres@127.0.0.1:5432/postgres] [--batch-size N] [--keep]
 *
 * Generate input with `npx tsx scripts/gen-data.ts --out DIR --rows 1000000`. The
 * readings file must be clean (COPY stops at the first duplicate key). COPY reads a
 * server-side file, so the PostgreSQL server must run on this machine.
 *
 * The loader runs as the real command line (`tsx src/cli.ts etl`) under /usr/bin/time -v
 * for its peak RSS; its rate is from the load itself (process start-up excluded).
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, createReadStream, createWriteStream, existsSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parse } from 'csv-parse';
import pg from 'pg';
import { openDatabase } from '../src/db/database.js';
import { runMigrations } from '../src/db/migrate.js';
import {
  type ColumnMap,
  CSV_PARSE_OPTIONS,
  isBlankRecord,
  mapHeader,
  parseRow,
} from '../src/modules/ingest/ingest.csv.js';
import { loadPatients } from '../src/modules/ingest/ingest.service.js';

const { values } = parseArgs({
  options: {
    patients: { type: 'string' },
    readings: { type: 'string' },
    'admin-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    'batch-size': { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
if (!values.patients || !values.readings) {
  console.error(
    'usage: npx tsx bench/ingest-copy.ts --patients FILE --readings FILE [--admin-url URL] [--batch-size N]',
  );
  process.exit(2);
}
const patientsFile = path.resolve(values.patients);
const readingsFile = path.resolve(values.readings);
const adminUrl = values['admin-url'] as string;

function urlFor(db: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${db}`;
  return u.toString();
}

async function admin(query: string): Promise<void> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(query);
  } finally {
    await c.end();
  }
}

/** A fresh migrated database with the patients loaded; returns email -> id. */
async function prepare(db: string): Promise<Map<string, number>> {
  await admin(`drop database if exists "${db}" with (force)`);
  await admin(`create database "${db}"`);
  const database = await openDatabase({ databaseUrl: urlFor(db), poolMax: 2 });
  try {
    await runMigrations(database);
    const log = { info() {}, warn() {} };
    await loadPatients({ database, log, now: () => new Date() }, readFileSync(patientsFile, 'utf8'));
    const ids = await database.pool?.query<{ id: number; email: string }>('select id, email from patients');
    return new Map((ids?.rows ?? []).map((r) => [r.email, Number(r.id)]));
  } finally {
    await database.close();
  }
}

/** Writes the readings as COPY input (patient_id, type, value, unit, timestamp); returns the count. */
async function copyInput(ids: Map<string, number>, out: string): Promise<number> {
  const w = createWriteStream(out);
  let map: ColumnMap | undefined;
  let line = 0;
  let n = 0;
  for await (const fields of createReadStream(readingsFile).pipe(parse(CSV_PARSE_OPTIONS)) as AsyncIterable<string[]>) {
    line++;
    if (isBlankRecord(fields)) continue;
    if (!map) {
      map = mapHeader(fields);
      continue;
    }
    const row = parseRow(map, fields, line);
    const id = row.ok ? ids.get(row.email) : undefined;
    if (!row.ok || id === undefined) continue;
    const ts = new Date(row.tsMs).toISOString();
    let text = '';
    for (const c of row.cells) {
      if (!c.ok) continue;
      text += `${id},${c.col.type},${c.value},${c.unit},${ts}\n`;
      n++;
    }
    if (!w.write(text)) await once(w, 'drain');
  }
  w.end();
  await once(w, 'finish');
  chmodSync(out, 0o644);
  return n;
}

async function timedCopy(db: string, file: string): Promise<number> {
  const c = new pg.Client({ connectionString: urlFor(db) });
  await c.connect();
  try {
    const t = process.hrtime.bigint();
    await c.query(
      `copy biometrics (patient_id, type, value, unit, timestamp) from '${file.replaceAll("'", "''")}' (format csv)`,
    );
    return Number(process.hrtime.bigint() - t) / 1e6;
  } finally {
    await c.end();
  }
}

function timedEtl(db: string): { ms: number; rssKb: number | undefined; summary: string } {
  const args = ['tsx', 'src/cli.ts', 'etl', '--readings', readingsFile, '--json'];
  if (values['batch-size']) args.push('--batch-size', values['batch-size']);
  const useTime = existsSync('/usr/bin/time');
  const r = spawnSync(useTime ? '/usr/bin/time' : 'npx', useTime ? ['-v', 'npx', ...args] : args, {
    env: { ...process.env, DATABASE_URL: urlFor(db) },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`etl failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const report = JSON.parse(r.stdout) as { elapsedMs: number; readings: { readings: Record<string, number> } };
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
  return {
    ms: report.elapsedMs,
    rssKb: rss ? Number(rss[1]) : undefined,
    summary: JSON.stringify(report.readings.readings),
  };
}

const tag = `${process.pid}`;
const copyDb = `pp_bench_copy_${tag}`;
const etlDb = `pp_bench_etl_${tag}`;
const copyFile = path.join(os.tmpdir(), `pp-bench-copy-${tag}.csv`);
try {
  const ids = await prepare(copyDb);
  await prepare(etlDb);
  const readings = await copyInput(ids, copyFile);
  const copyMs = await timedCopy(copyDb, copyFile);
  const etl = timedEtl(etlDb);
  const copyRate = readings / (copyMs / 1000);
  const etlRate = readings / (etl.ms / 1000);
  console.log(`readings:      ${readings}`);
  console.log(`COPY:          ${(copyMs / 1000).toFixed(1)} s, ${Math.round(copyRate)} readings/s`);
  console.log(`etl:           ${(etl.ms / 1000).toFixed(1)} s, ${Math.round(etlRate)} readings/s (${etl.summary})`);
  console.log(`etl / COPY:    ${((100 * etlRate) / copyRate).toFixed(0)}%`);
  if (etl.rssKb) console.log(`etl peak RSS:  ${(etl.rssKb / 1024).toFixed(0)} MB`);
  console.log(
    `load average:  ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
} finally {
  rmSync(copyFile, { force: true });
  if (!values.keep) {
    await admin(`drop database if exists "${copyDb}" with (force)`);
    await admin(`drop database if exists "${etlDb}" with (force)`);
  }
}
