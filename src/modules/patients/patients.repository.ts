/** Drizzle access to the patients table. */
import { and, asc, count, eq, ilike, or, type SQL, sql } from 'drizzle-orm';
import type { DbOrTx } from '../../db/database.js';
import { perVariant, qb, rawStatement } from '../../db/prepared.js';
import { patients } from '../../db/schema.js';

export type PatientRow = typeof patients.$inferSelect;
export type NewPatientRow = typeof patients.$inferInsert;

/** The columns the API shows; lists read only these. */
const listColumns = {
  id: patients.id,
  name: patients.name,
  dob: patients.dob,
  gender: patients.gender,
  address: patients.address,
  email: patients.email,
  phone: patients.phone,
};

export type PatientListRow = Pick<PatientRow, keyof typeof listColumns>;

export interface PatientFilter {
  /** Restrict to these ids (key scope); null means all. */
  ids: number[] | null;
  search?: string | undefined;
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Bits of the optional list filters: each combination is its own prepared statement. */
const HAS_SCOPE = 1;
const HAS_SEARCH = 2;

function where(filters: number): SQL | undefined {
  return and(
    filters & HAS_SCOPE ? sql`${patients.id} = any(${sql.placeholder('ids')}::int[])` : undefined,
    filters & HAS_SEARCH
      ? or(ilike(patients.name, sql.placeholder('pattern')), ilike(patients.email, sql.placeholder('pattern')))
      : undefined,
  );
}

interface ListValues extends Record<string, unknown> {
  ids: number[] | null;
  pattern: string | undefined;
  limit: number;
  offset: number;
}

function buildListStatements(filters: number) {
  const w = where(filters);
  return {
    page: rawStatement<ListValues>(
      `patients_list_page_${filters}`,
      qb
        .select(listColumns)
        .from(patients)
        .where(w)
        .orderBy(asc(patients.id))
        .limit(sql.placeholder('limit'))
        .offset(sql.placeholder('offset')),
    ),
    count: rawStatement<ListValues>(
      `patients_list_count_${filters}`,
      qb
        .select({ n: count().as('n') })
        .from(patients)
        .where(w),
    ),
  };
}

/** The list statements, built once per filter combination. */
const listStatements = perVariant(buildListStatements);

/** A listed row as the driver returns it (columns by name; the date as text). */
function toListRow(r: Record<string, unknown>): PatientListRow {
  return {
    id: Number(r.id),
    name: String(r.name),
    dob: String(r.dob),
    gender: String(r.gender),
    address: r.address === null ? null : String(r.address),
    email: String(r.email),
    phone: r.phone === null ? null : String(r.phone),
  };
}

export async function listPatients(
  db: DbOrTx,
  filter: PatientFilter,
  limit: number,
  offset: number,
): Promise<{ rows: PatientListRow[]; total: number }> {
  const filters = (filter.ids !== null ? HAS_SCOPE : 0) | (filter.search ? HAS_SEARCH : 0);
  const s = listStatements(filters);
  const values: ListValues = {
    ids: filter.ids,
    pattern: filter.search ? `%${escapeLike(filter.search)}%` : undefined,
    limit,
    offset,
  };
  const [rows, totals] = await Promise.all([
    s.page.rows<Record<string, unknown>>(db, values),
    s.count.rows<{ n: unknown }>(db, values),
  ]);
  return { rows: rows.map(toListRow), total: Number(totals[0]?.n ?? 0) };
}

export async function findPatient(db: DbOrTx, id: number): Promise<PatientRow | undefined> {
  const [row] = await db.select().from(patients).where(eq(patients.id, id)).limit(1);
  return row;
}

export async function patientExists(db: DbOrTx, id: number): Promise<boolean> {
  const rows = await db.select({ id: patients.id }).from(patients).where(eq(patients.id, id)).limit(1);
  return rows.length > 0;
}

/**
 * Locks the patient row for the rest of the transaction; false when absent. Reading
 * inserts check the foreign key with a share lock on this row, so they wait for the lock
 * holder and then see whether the patient still exists.
 */
export async function lockPatient(tx: DbOrTx, id: number): Promise<boolean> {
  const rows = await tx.select({ id: patients.id }).from(patients).where(eq(patients.id, id)).for('update');
  return rows.length > 0;
}

export async function findPatientByEmail(db: DbOrTx, email: string): Promise<PatientRow | undefined> {
  const [row] = await db.select().from(patients).where(eq(patients.email, email)).limit(1);
  return row;
}

/** Inserts unless the email exists; returns undefined on an email conflict. */
export async function insertPatient(db: DbOrTx, row: NewPatientRow): Promise<PatientRow | undefined> {
  const [created] = await db.insert(patients).values(row).onConflictDoNothing({ target: patients.email }).returning();
  return created;
}

export async function updatePatient(
  db: DbOrTx,
  id: number,
  patch: Partial<NewPatientRow>,
): Promise<PatientRow | undefined> {
  const [row] = await db
    .update(patients)
    .set({ ...patch, updatedAt: sql`now()` })
    .where(eq(patients.id, id))
    .returning();
  return row;
}

/** Deletes the patient; readings and analytics go by cascade, buffer rows explicitly. */
export async function deletePatient(db: DbOrTx, id: number): Promise<boolean> {
  const rows = await db.delete(patients).where(eq(patients.id, id)).returning({ id: patients.id });
  return rows.length > 0;
}

export async function countPatients(db: DbOrTx): Promise<number> {
  const [row] = await db.select({ n: count() }).from(patients);
  return Number(row?.n ?? 0);
}
