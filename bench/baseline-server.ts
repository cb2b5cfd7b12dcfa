/**
 * The bare baseline of the HTTP benchmarks: Node's http module plus the same SQL the
 * application runs, through a pg pool of the same size (or PGlite in-process). Nothing
 * else: no framework, no validation library, no authentication, no audit, no logging.
 * It answers the same URLs with the same JSON, so the ratio app / baseline is the cost
 * of everything the application adds on top of the database work.
 *
 * Environment: BASELINE_PORT, and BASELINE_DATABASE_URL (+ BASELINE_POOL_MAX) or
 * BASELINE_PGLITE_DIR (a PGlite data directory).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

type Row = Record<string, unknown>;
/** Runs `text`; with a `name`, as a named prepared statement (PostgreSQL), as the application runs it. */
type Query = (text: string, params: unknown[], name?: string) => Promise<Row[]>;

const UNITS: Record<string, string> = { glucose: 'mg/dL', systolic: 'mmHg', diastolic: 'mmHg', weight: 'kg' };
const CSV_TYPES = ['glucose', 'systolic', 'diastolic', 'weight'] as const;
const BP_PARTNER: Record<string, string> = { systolic: 'diastolic', diastolic: 'systolic' };

async function openQuery(): Promise<{ query: Query; close(): Promise<void> }> {
  const url = process.env.BASELINE_DATABASE_URL;
  if (url) {
    const { default: pg } = await import('pg');
    pg.types.setTypeParser(20, (v: string) => Number(v));
    // Same pool size and idle timeout as the application; named so the bench can find its backends.
    const pool = new pg.Pool({
      connectionString: url,
      max: Number(process.env.BASELINE_POOL_MAX ?? 10),
      idleTimeoutMillis: 30_000,
      application_name: 'patientpulse-bench-baseline',
    });
    return {
      query: async (text, params, name) =>
        (await (name ? pool.query({ name, text, values: params }) : pool.query(text, params))).rows,
      close: () => pool.end(),
    };
  }
  const dir = process.env.BASELINE_PGLITE_DIR;
  if (!dir) throw new Error('set BASELINE_DATABASE_URL or BASELINE_PGLITE_DIR');
  const { PGlite } = await import('@electric-sql/pglite');
  const db = await PGlite.create({ dataDir: dir, parsers: { 20: (v: string) => Number(v) } });
  return { query: async (text, params) => (await db.query<Row>(text, params)).rows, close: () => db.close() };
}

const iso = (v: unknown) => (v instanceof Date ? v : new Date(String(v))).toISOString();

function reading(r: Row) {
  return {
    id: Number(r.id),
    patient_id: Number(r.patient_id),
    timestamp: iso(r.timestamp),
    type: r.type,
    value: Number(r.value),
    unit: r.unit,
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function intParam(params: URLSearchParams, name: string, def: number): number {
  const v = params.get(name);
  return v === null ? def : Number.parseInt(v, 10);
}

/**
 * Same statements as the application's repositories (rows and total in parallel), sent the
 * same way: the ones the application runs as named prepared statements are named here too
 * (same names), so the ratio compares only what the application adds around them.
 */
const SQL = {
  patientsPage: `select "id", "name", "dob", "gender", "address", "email", "phone"
    from "patients" order by "patients"."id" asc limit $1 offset $2`,
  patientsCount: `select count(*) as "n" from "patients"`,
  historyPage: `select "id", "patient_id", "type", "value", "unit", "timestamp" from "biometrics"
    where "biometrics"."patient_id" = $1 order by "biometrics"."timestamp" desc nulls last, "biometrics"."id" desc nulls last limit $2 offset $3`,
  historyCount: `select coalesce(sum("n"), 0) as "n", count(*) as "deltas" from "biometrics_counts" where "biometrics_counts"."patient_id" = $1`,
  upsert: `with up as (
      insert into biometrics (patient_id, type, value, unit, timestamp)
      values ($1, $2, $3, $4, $5::timestamptz)
      on conflict (patient_id, type, timestamp) do update
        set value = excluded.value, unit = excluded.unit, updated_at = now()
        where biometrics.value is distinct from excluded.value or biometrics.unit is distinct from excluded.unit
      returning id, patient_id, type, value, unit, timestamp
    ), buf as (
      insert into biometrics_hourly (patient_id, type, bucket_start)
      select patient_id, type, date_trunc('hour', timestamp, 'UTC') from up
    )
    select id, patient_id, type, value, unit, timestamp, true as changed from up
    union all
    select id, patient_id, type, value, unit, timestamp, false as changed from biometrics
    where patient_id = $1 and type = $2 and timestamp = $5::timestamptz
      and not exists (select 1 from up)`,
  // The application's statement for systolic and diastolic: the same upsert, guarded by the
  // stored partner at the same time (an inverted pair writes nothing, the partner comes back).
  upsertBp: `with bad as (
      select value from biometrics
      where patient_id = $1 and type = $6 and timestamp = $5::timestamptz
        and case when $2 = 'systolic' then value >= $3::float8 else value <= $3::float8 end
    ), up as (
      insert into biometrics (patient_id, type, value, unit, timestamp)
      select $1, $2, $3::float8, $4, $5::timestamptz
      where not exists (select 1 from bad)
      on conflict (patient_id, type, timestamp) do update
        set value = excluded.value, unit = excluded.unit, updated_at = now()
        where biometrics.value is distinct from excluded.value or biometrics.unit is distinct from excluded.unit
      returning id, patient_id, type, value, unit, timestamp
    ), buf as (
      insert into biometrics_hourly (patient_id, type, bucket_start)
      select patient_id, type, date_trunc('hour', timestamp, 'UTC') from up
    )
    select id, patient_id, type, value, unit, timestamp, true as changed, null::float8 as partner from up
    union all
    select id, patient_id, type, value, unit, timestamp, false as changed, null::float8 as partner from biometrics
    where patient_id = $1 and type = $2 and timestamp = $5::timestamptz
      and not exists (select 1 from up) and not exists (select 1 from bad)
    union all
    select null, null, null, null, null, null, false, value from bad`,
  patientIdsByEmail: `select id, email from patients where email = any($1::text[])`,
  // The application's bulk statement (one outcome per reading): columns as comma-joined
  // text, the upsert in key order, then the counts and one row per written reading.
  bulkUpsert: `with src as (
      select t.patient_id, t.type, t.value, t.unit, to_timestamp(t.ms / 1000) as ts, t.line
      from unnest(string_to_array($1, ',')::int[], string_to_array($2, ','),
                  string_to_array($3, ',')::float8[], string_to_array($4, ','),
                  string_to_array($5, ',')::float8[], string_to_array($6, ',')::int[])
        as t(patient_id, type, value, unit, ms, line)
    ), fresh as (select * from src), up as (
      insert into biometrics (patient_id, type, value, unit, timestamp)
      select patient_id, type, value, unit, ts from fresh order by patient_id, type, ts
      on conflict (patient_id, type, timestamp) do update
        set value = excluded.value, unit = excluded.unit, updated_at = now()
        where biometrics.value is distinct from excluded.value or biometrics.unit is distinct from excluded.unit
      returning patient_id, type, timestamp, (xmax = 0) as inserted
    ), buf as (
      insert into biometrics_hourly (patient_id, type, bucket_start)
      select distinct patient_id, type, date_trunc('hour', timestamp, 'UTC') from up
      returning 1
    )
    select 0 as kind, (select count(*) from up where inserted)::int as p, null::text as t,
           (select count(*) from up where not inserted)::float8 as ms, (select count(*) from buf)::int as a,
           0::float8 as v
    union all
    select 2, patient_id, type, (extract(epoch from timestamp) * 1000)::float8, case when inserted then 1 else 0 end, 0
    from up`,
};

async function patients(query: Query, params: URLSearchParams) {
  const page = intParam(params, 'page', 1);
  const size = intParam(params, 'size', 20);
  const [rows, count] = await Promise.all([
    query(SQL.patientsPage, [size, (page - 1) * size], 'patients_list_page_0'),
    query(SQL.patientsCount, [], 'patients_list_count_0'),
  ]);
  return {
    page,
    size,
    total: Number(count[0]?.n ?? 0),
    items: rows.map((r) => ({
      id: r.id,
      name: r.name,
      dob: typeof r.dob === 'string' ? r.dob : iso(r.dob).slice(0, 10),
      gender: r.gender,
      address: r.address,
      email: r.email,
      phone: r.phone,
    })),
  };
}

async function history(query: Query, params: URLSearchParams) {
  const patientId = intParam(params, 'patient_id', 0);
  const page = intParam(params, 'page', 1);
  const size = intParam(params, 'size', 20);
  const [rows, count] = await Promise.all([
    query(SQL.historyPage, [patientId, size, (page - 1) * size], 'biometrics_history_page_0'),
    query(SQL.historyCount, [patientId], 'biometrics_history_total_0'),
  ]);
  return { page, size, total: Number(count[0]?.n ?? 0), items: rows.map(reading) };
}

async function upsert(query: Query, text: string) {
  const b = JSON.parse(text) as { patient_id: number; timestamp: string; type: string; value: number };
  const ts = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(b.timestamp) ? b.timestamp : `${b.timestamp}Z`).toISOString();
  const partner = BP_PARTNER[b.type];
  const rows = partner
    ? await query(SQL.upsertBp, [b.patient_id, b.type, b.value, UNITS[b.type], ts, partner], 'biometrics_upsert_bp')
    : await query(SQL.upsert, [b.patient_id, b.type, b.value, UNITS[b.type], ts], 'biometrics_upsert');
  const first = rows[0];
  if (!first || first.partner != null) throw new Error('upsert wrote no row');
  return reading(first);
}

/**
 * A CSV bulk request in the reference format (patient_email,timestamp,glucose_mg_dL,
 * bp_systolic,bp_diastolic,weight_kg), answered as the application answers it: a summary
 * and one outcome per reading.
 */
async function bulkCsv(query: Query, text: string) {
  const lines = text.split('\n');
  const emails = new Set<string>();
  const cells: { line: number; c: string[] }[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (!line) continue;
    const c = line.split(',');
    cells.push({ line: i + 1, c });
    emails.add(c[0] as string);
  }
  const ids = new Map<string, number>();
  for (const r of await query(SQL.patientIdsByEmail, [[...emails]])) ids.set(String(r.email), Number(r.id));
  const pid: number[] = [];
  const type: string[] = [];
  const value: number[] = [];
  const unit: string[] = [];
  const ms: number[] = [];
  const line: number[] = [];
  for (const { line: n, c } of cells) {
    const id = ids.get(c[0] as string);
    if (id === undefined) continue;
    const at = Date.parse(`${c[1]}Z`);
    for (let k = 0; k < 4; k++) {
      const v = c[2 + k];
      if (!v) continue;
      const t = CSV_TYPES[k] as string;
      pid.push(id);
      type.push(t);
      value.push(Number(v));
      unit.push(UNITS[t] as string);
      ms.push(at);
      line.push(n);
    }
  }
  const rows = await query(
    SQL.bulkUpsert,
    [pid, type, value, unit, ms, line].map((col) => col.join(',')),
  );
  // Written readings by patient, then by time * 4 + type index: the application's lookup,
  // with no string built per reading.
  const written = new Map<number, Map<number, boolean>>();
  const key = (t: string, at: number) => at * 4 + CSV_TYPES.indexOf(t as (typeof CSV_TYPES)[number]);
  let inserted = 0;
  let updated = 0;
  for (const r of rows) {
    if (Number(r.kind) === 0) {
      inserted = Number(r.p);
      updated = Number(r.ms);
      continue;
    }
    const p = Number(r.p);
    let byTime = written.get(p);
    if (!byTime) {
      byTime = new Map();
      written.set(p, byTime);
    }
    byTime.set(key(String(r.t), Number(r.ms)), Number(r.a) === 1);
  }
  const results = pid.map((p, i) => {
    const w = written.get(p)?.get(key(type[i] as string, ms[i] as number));
    return { status: w === undefined ? 'unchanged' : w ? 'inserted' : 'updated', line: line[i], column: type[i] };
  });
  return {
    summary: {
      received: cells.length,
      inserted,
      updated,
      unchanged: pid.length - inserted - updated,
      duplicate: 0,
      rejected: 0,
    },
    results,
  };
}

async function main(): Promise<void> {
  const db = await openQuery();
  const server = createServer((req, res) => {
    const q = (req.url ?? '/').indexOf('?');
    const pathname = q === -1 ? (req.url ?? '/') : (req.url ?? '/').slice(0, q);
    const params = new URLSearchParams(q === -1 ? '' : (req.url ?? '').slice(q + 1));
    const handle = async (): Promise<unknown> => {
      if (req.method === 'GET' && pathname === '/healthz') return { status: 'ok' };
      if (req.method === 'GET' && pathname === '/api/v1/patients') return patients(db.query, params);
      if (req.method === 'GET' && pathname === '/api/v1/biometrics') return history(db.query, params);
      if (req.method === 'POST' && pathname === '/api/v1/biometrics') return upsert(db.query, await readBody(req));
      if (req.method === 'POST' && pathname === '/api/v1/biometrics/bulk')
        return bulkCsv(db.query, await readBody(req));
      return undefined;
    };
    handle().then(
      (body) => (body === undefined ? send(res, 404, { status: 404 }) : send(res, 200, body)),
      (err: unknown) => {
        console.error(err);
        send(res, 500, { status: 500 });
      },
    );
  });
  server.keepAliveTimeout = 65_000;
  server.listen(Number(process.env.BASELINE_PORT ?? 0), '127.0.0.1');
  const stop = () => {
    server.close();
    server.closeAllConnections();
    db.close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
