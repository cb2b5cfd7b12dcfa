/**
 * Patient use cases. Plain functions with explicit dependencies so the HTTP routes, the
 * file loader and the command line share them.
 */
import { count, eq } from 'drizzle-orm';
import type { Db } from '../../db/database.js';
import { biometrics, biometricsHourly } from '../../db/schema.js';
import { ConflictError, NotFoundError, ValidationError } from '../../domain/errors.js';
import * as repo from './patients.repository.js';
import type { CreatePatientInput, PatientDto, UpdatePatientInput } from './patients.schemas.js';

export interface PatientDeps {
  db: Db;
  now: () => Date;
}

/** Patients a caller may see: null means all. */
export type PatientScope = number[] | null;

export function toPatientDto(row: repo.PatientListRow): PatientDto {
  return {
    id: row.id,
    name: row.name,
    dob: row.dob,
    gender: row.gender as PatientDto['gender'],
    address: row.address,
    email: row.email,
    phone: row.phone,
  };
}

/** Earliest accepted date of birth: older dates are typing errors, not patients. */
export const MIN_DOB = '1900-01-01';

/** Normalises as the loader does: trimmed name, lower-case gender and email. */
export function normalizePatientFields<T extends Partial<CreatePatientInput>>(input: T, now: Date): T {
  const out = { ...input };
  if (out.name !== undefined) out.name = out.name.trim();
  if (out.gender !== undefined) out.gender = out.gender.toLowerCase();
  if (out.email !== undefined) out.email = out.email.trim().toLowerCase();
  // YYYY-MM-DD strings compare like the dates they name.
  if (out.dob !== undefined && out.dob > now.toISOString().slice(0, 10)) {
    throw new ValidationError([{ field: 'body.dob', message: 'must not be in the future' }]);
  }
  if (out.dob !== undefined && out.dob < MIN_DOB) {
    throw new ValidationError([{ field: 'body.dob', message: `must not be before ${MIN_DOB}` }]);
  }
  return out;
}

function inScope(scope: PatientScope, id: number): boolean {
  return scope === null || scope.includes(id);
}

function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } };
  return e?.code === '23505' || e?.cause?.code === '23505';
}

export async function listPatients(
  deps: PatientDeps,
  scope: PatientScope,
  q: { page: number; size: number; search?: string | undefined },
): Promise<{ page: number; size: number; total: number; items: PatientDto[] }> {
  const { rows, total } = await repo.listPatients(
    deps.db,
    { ids: scope, search: q.search },
    q.size,
    (q.page - 1) * q.size,
  );
  return { page: q.page, size: q.size, total, items: rows.map(toPatientDto) };
}

/** Returns the patient or throws 404 (also when outside the caller's scope). */
export async function getPatient(deps: PatientDeps, scope: PatientScope, id: number): Promise<PatientDto> {
  const row = inScope(scope, id) ? await repo.findPatient(deps.db, id) : undefined;
  if (!row) throw new NotFoundError('Patient');
  return toPatientDto(row);
}

export async function createPatient(deps: PatientDeps, input: CreatePatientInput): Promise<PatientDto> {
  const p = normalizePatientFields(input, deps.now());
  const row = await repo.insertPatient(deps.db, {
    name: p.name,
    dob: p.dob,
    gender: p.gender,
    email: p.email,
    address: p.address ?? null,
    phone: p.phone ?? null,
  });
  if (!row) throw new ConflictError('A patient with this email already exists');
  return toPatientDto(row);
}

export async function updatePatient(
  deps: PatientDeps,
  scope: PatientScope,
  id: number,
  input: UpdatePatientInput,
): Promise<PatientDto> {
  if (!inScope(scope, id)) throw new NotFoundError('Patient');
  const p = normalizePatientFields(input, deps.now());
  try {
    const row = await repo.updatePatient(deps.db, id, p);
    if (!row) throw new NotFoundError('Patient');
    return toPatientDto(row);
  } catch (err) {
    if (isUniqueViolation(err)) throw new ConflictError('A patient with this email already exists');
    throw err;
  }
}

/**
 * Erases a patient: readings, change-buffer rows and analytics go in the same
 * transaction (readings and analytics by foreign-key cascade).
 */
export async function erasePatient(
  deps: PatientDeps,
  scope: PatientScope,
  id: number,
): Promise<{ ok: true; deleted_id: number; readings_deleted: number }> {
  if (!inScope(scope, id)) throw new NotFoundError('Patient');
  return deps.db.transaction(async (tx) => {
    // Lock first: a reading written concurrently either lands before the count or fails
    // its foreign-key check after the erasure (404), so the count is exact.
    if (!(await repo.lockPatient(tx, id))) throw new NotFoundError('Patient');
    const [c] = await tx.select({ n: count() }).from(biometrics).where(eq(biometrics.patientId, id));
    await tx.delete(biometricsHourly).where(eq(biometricsHourly.patientId, id));
    const deleted = await repo.deletePatient(tx, id);
    if (!deleted) throw new NotFoundError('Patient');
    return { ok: true as const, deleted_id: id, readings_deleted: Number(c?.n ?? 0) };
  });
}
