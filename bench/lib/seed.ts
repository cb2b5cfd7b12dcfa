/**
 * Synthetic data for the scenarios: patients from the project generator, readings made
 * in SQL with generate_series (millions of rows in seconds instead of minutes).
 */
import { generatePatients, type Patient } from '../../scripts/gen-data.js';
import type { Sql } from './sql.js';

/** The patient as the loader stores it (trimmed, lower-case gender and email). */
export function normalizedPatient(p: Patient): Patient {
  return { ...p, name: p.name.trim(), gender: p.gender.toLowerCase(), email: p.email.trim().toLowerCase() };
}

/** Inserts patients and returns their ids in input order. */
export async function insertPatients(sql: Sql, patients: Patient[]): Promise<number[]> {
  const ids: number[] = [];
  const chunk = 5_000;
  for (let i = 0; i < patients.length; i += chunk) {
    const part = patients.slice(i, i + chunk).map(normalizedPatient);
    const rows = await sql.query<{ id: number; email: string }>(
      `insert into patients (name, dob, gender, address, email, phone)
       select * from unnest($1::text[], $2::date[], $3::text[], $4::text[], $5::text[], $6::text[])
       returning id, email`,
      [
        part.map((p) => p.name),
        part.map((p) => p.dob),
        part.map((p) => p.gender),
        part.map((p) => p.address),
        part.map((p) => p.email),
        part.map((p) => p.phone),
      ],
    );
    const byEmail = new Map(rows.map((r) => [r.email, Number(r.id)]));
    for (const p of part) {
      const id = byEmail.get(p.email);
      if (id === undefined) throw new Error('patient insert returned no id');
      ids.push(id);
    }
  }
  return ids;
}

/** Patients `from` .. `from + count - 1` of the generator's cohort (same seed, same people). */
export function cohort(from: number, count: number, seed = 7): Patient[] {
  return generatePatients({ patients: from + count, seed }).slice(from);
}

export interface ReadingsSpec {
  patientIds: number[];
  /** Readings per patient; types cycle glucose, systolic, diastolic, weight at each time. */
  perPatient: number;
  /** Newest timestamp. */
  end: Date;
  /** Minutes between successive timestamps of one patient. */
  stepMinutes: number;
  /** Log progress for big inserts. */
  log?: (msg: string) => void;
}

const TYPES_SQL = `(values (0, 'glucose', 'mg/dL', 80.0, 90.0), (1, 'systolic', 'mmHg', 105.0, 40.0),
  (2, 'diastolic', 'mmHg', 65.0, 25.0), (3, 'weight', 'kg', 55.0, 45.0)) t(k, type, unit, base, spread)`;

/**
 * Inserts `perPatient` readings for each patient, newest at `end`. Big inserts drop the
 * table's indexes and constraints first and rebuild them from their own definitions
 * afterwards, which is several times faster than maintaining them row by row.
 */
export async function insertReadings(sql: Sql, spec: ReadingsSpec): Promise<number> {
  const total = spec.patientIds.length * spec.perPatient;
  const restore = total > 300_000 ? await dropIndexes(sql, 'biometrics') : undefined;
  const slots = Math.ceil(spec.perPatient / 4);
  const perStatement = Math.max(1, Math.floor(1_000_000 / Math.max(1, spec.perPatient)));
  let done = 0;
  for (let i = 0; i < spec.patientIds.length; i += perStatement) {
    const ids = spec.patientIds.slice(i, i + perStatement);
    await sql.query(
      `insert into biometrics (patient_id, type, value, unit, timestamp)
       select p.id, t.type, round((t.base + random() * t.spread)::numeric, 1)::float8, t.unit,
              $2::timestamptz - (g.i * $3::int) * interval '1 minute'
       from unnest($1::int[]) p(id)
       cross join generate_series(0, $4::int - 1) g(i)
       cross join ${TYPES_SQL}
       where g.i * 4 + t.k < $5::int`,
      [ids, spec.end.toISOString(), spec.stepMinutes, slots, spec.perPatient],
    );
    done += ids.length * spec.perPatient;
    if (total > 500_000) spec.log?.(`  readings: ${done.toLocaleString('en-US')} / ${total.toLocaleString('en-US')}`);
  }
  if (restore) {
    spec.log?.('  rebuilding indexes');
    await restore();
  }
  return total;
}

/**
 * Drops the indexes and the primary-key, unique and foreign-key constraints of a table;
 * the returned function recreates them from their saved definitions.
 */
export async function dropIndexes(sql: Sql, table: string): Promise<() => Promise<void>> {
  const constraints = await sql.query<{ conname: string; contype: string; def: string }>(
    `select conname, contype, pg_get_constraintdef(oid) as def from pg_constraint
     where conrelid = $1::regclass and contype in ('p', 'u', 'f') order by contype = 'f' desc`,
    [table],
  );
  const indexes = await sql.query<{ indexname: string; indexdef: string }>(
    `select i.indexname, i.indexdef from pg_indexes i
     where i.schemaname = current_schema() and i.tablename = $1
       and not exists (select 1 from pg_constraint c where c.conindid = (quote_ident(i.indexname))::regclass)`,
    [table],
  );
  for (const c of constraints) await sql.exec(`alter table "${table}" drop constraint "${c.conname}"`);
  for (const i of indexes) await sql.exec(`drop index "${i.indexname}"`);
  return async () => {
    // One multi-statement call runs on one connection, so the setting applies to the builds.
    const statements = [
      ...(sql.kind === 'postgres' ? [`set maintenance_work_mem = '256MB'`] : []),
      ...indexes.map((i) => i.indexdef),
      // Keys before the foreign keys that may reference them.
      ...[...constraints].reverse().map((c) => `alter table "${table}" add constraint "${c.conname}" ${c.def}`),
      ...(sql.kind === 'postgres' ? ['reset maintenance_work_mem'] : []),
    ];
    await sql.exec(statements.map((s) => `${s};`).join('\n'));
  };
}
