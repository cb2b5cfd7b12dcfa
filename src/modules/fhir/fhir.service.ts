/**
 * FHIR read use cases over the existing repositories: no SQL of its own. Scope rules are
 * the /api/v1 ones: a patient or reading outside the key's scope is the same 404 as one
 * that does not exist.
 */
import type { Db } from '../../db/database.js';
import { NotFoundError, ValidationError } from '../../domain/errors.js';
import type { ReadingType } from '../../domain/readings.js';
import * as readingsRepo from '../biometrics/biometrics.repository.js';
import { readingHistory } from '../biometrics/biometrics.service.js';
import * as patientsRepo from '../patients/patients.repository.js';
import {
  dateRange,
  EMAIL_SYSTEMS,
  FHIR_VERSION,
  type FhirObservation,
  type FhirPatient,
  parseId,
  readingTypeOfToken,
  toFhirObservation,
  toFhirPatient,
} from './fhir.mapping.js';
import type { ObservationSearchT, PatientSearchT } from './fhir.schemas.js';

export interface FhirDeps {
  db: Db;
  now: () => Date;
  log?: { warn(obj: object, msg: string): void };
}

/** Patients a caller may see: null means all. */
export type PatientScope = number[] | null;

const MAX_PATIENT_ID = 2147483647;

function inScope(scope: PatientScope, id: number): boolean {
  return scope === null || scope.includes(id);
}

/** A searchset page: the resources, the exact total, and whether a next page exists. */
export interface SearchPage<R> {
  total: number;
  resources: R[];
  hasNext: boolean;
}

/** The CapabilityStatement of this server (static apart from the date). */
export function capabilityStatement(date: string, version: string) {
  const searchParam = (name: string, type: string, documentation: string) => ({ name, type, documentation });
  const count = searchParam('_count', 'number', 'Page size, 1..100 for Patient, 1..1000 for Observation; default 20');
  const page = searchParam('page', 'number', 'Page number (1-based); follow the next link rather than building it');
  return {
    resourceType: 'CapabilityStatement' as const,
    status: 'active' as const,
    date,
    publisher: 'PatientPulse',
    kind: 'instance' as const,
    software: { name: 'PatientPulse', version },
    implementation: { description: 'PatientPulse read-only FHIR facade' },
    fhirVersion: FHIR_VERSION,
    format: ['json'],
    rest: [
      {
        mode: 'server' as const,
        security: {
          cors: false,
          description:
            'Every request except GET /fhir/metadata needs a PatientPulse API key in `Authorization: Bearer <key>` ' +
            '(or `X-API-Key`). A key limited to some patients sees only those; others answer 404.',
        },
        resource: [
          {
            type: 'Patient',
            interaction: [{ code: 'read' }, { code: 'search-type' }],
            searchParam: [
              searchParam('_id', 'token', 'Logical id'),
              searchParam('identifier', 'token', `Email address; system ${EMAIL_SYSTEMS.join(' or ')} or none`),
              count,
              page,
            ],
          },
          {
            type: 'Observation',
            interaction: [{ code: 'read' }, { code: 'search-type' }],
            searchParam: [
              searchParam('patient', 'reference', 'Required: Patient/{id} or {id}'),
              searchParam('code', 'token', 'LOINC code, as http://loinc.org|code, |code or code'),
              searchParam('date', 'date', 'effective time; prefixes eq, gt, ge, lt, le; repeatable (ANDed)'),
              count,
              page,
            ],
          },
        ],
      },
    ],
  };
}

/** One patient, or 404 (also outside the scope and for ids that cannot exist). */
export async function readPatient(deps: FhirDeps, scope: PatientScope, id: string): Promise<FhirPatient> {
  const n = parseId(id, MAX_PATIENT_ID);
  const row = n !== undefined && inScope(scope, n) ? await patientsRepo.findPatient(deps.db, n) : undefined;
  if (!row) throw new NotFoundError('Patient');
  return toFhirPatient(row);
}

/** The email of an `identifier` token, or undefined when its system is not an email one. */
function emailOfIdentifier(token: string): string | undefined {
  const bar = token.indexOf('|');
  if (bar === -1) return token.toLowerCase();
  const system = token.slice(0, bar);
  if (system !== '' && !(EMAIL_SYSTEMS as readonly string[]).includes(system)) return undefined;
  return token.slice(bar + 1).toLowerCase();
}

/**
 * Patient search: `_id` and `identifier` each name at most one patient, so they are
 * lookups; without them, the scoped list in id order.
 */
export async function searchPatients(
  deps: FhirDeps,
  scope: PatientScope,
  q: PatientSearchT,
): Promise<SearchPage<FhirPatient>> {
  if (q._id === undefined && q.identifier === undefined) {
    const { rows, total } = await patientsRepo.listPatients(deps.db, { ids: scope }, q._count, (q.page - 1) * q._count);
    return { total, resources: rows.map(toFhirPatient), hasNext: q.page * q._count < total };
  }
  let row: patientsRepo.PatientRow | undefined;
  if (q._id !== undefined) {
    const n = parseId(q._id, MAX_PATIENT_ID);
    row = n !== undefined && inScope(scope, n) ? await patientsRepo.findPatient(deps.db, n) : undefined;
  } else if (q.identifier !== undefined) {
    const email = emailOfIdentifier(q.identifier);
    row = email ? await patientsRepo.findPatientByEmail(deps.db, email) : undefined;
    if (row && !inScope(scope, row.id)) row = undefined;
  }
  if (row && q.identifier !== undefined && emailOfIdentifier(q.identifier) !== row.email) row = undefined;
  const found = row && q.page === 1 ? [toFhirPatient(row)] : [];
  return { total: row ? 1 : 0, resources: found, hasNext: false };
}

/** One reading as an Observation, or 404 (also outside the scope). */
export async function readObservation(deps: FhirDeps, scope: PatientScope, id: string): Promise<FhirObservation> {
  const n = parseId(id, Number.MAX_SAFE_INTEGER);
  const row = n !== undefined ? await readingsRepo.findReading(deps.db, n) : undefined;
  if (!row || !inScope(scope, row.patientId)) throw new NotFoundError('Observation');
  return toFhirObservation(row);
}

/** The patient id of the `patient` reference (`Patient/12` or `12`). */
export function patientOfReference(ref: string): number | undefined {
  return parseId(ref.startsWith('Patient/') ? ref.slice('Patient/'.length) : ref, MAX_PATIENT_ID);
}

/**
 * Observation search for one patient, newest first, through the readings history query
 * (its indexes and its exact total from the per-patient counts). An unknown patient or
 * one outside the scope is a 404, as in the readings history.
 */
export async function searchObservations(
  deps: FhirDeps,
  scope: PatientScope,
  q: ObservationSearchT,
): Promise<SearchPage<FhirObservation>> {
  const patientId = patientOfReference(q.patient);
  if (patientId === undefined) throw new NotFoundError('Patient');
  let type: ReadingType | undefined;
  if (q.code !== undefined) {
    const t = readingTypeOfToken(q.code);
    // A code we never store: nothing matches, but the patient must still be one the caller may see.
    if (t === null) {
      if (!inScope(scope, patientId) || !(await patientsRepo.patientExists(deps.db, patientId))) {
        throw new NotFoundError('Patient');
      }
      return { total: 0, resources: [], hasNext: false };
    }
    type = t;
  }
  const range = dateRange(q.date ?? []);
  if ('error' in range) throw new ValidationError([{ field: 'query.date', message: range.error }]);
  if (range.from && range.to && range.from >= range.to) {
    // An empty range: the history query refuses nothing, but the answer is known.
    if (!inScope(scope, patientId) || !(await patientsRepo.patientExists(deps.db, patientId))) {
      throw new NotFoundError('Patient');
    }
    return { total: 0, resources: [], hasNext: false };
  }
  const page = await readingHistory(deps, scope, {
    patient_id: patientId,
    page: q.page,
    size: q._count,
    ...(type ? { type } : {}),
    ...(range.from ? { from: range.from.toISOString() } : {}),
    ...(range.to ? { to: range.to.toISOString() } : {}),
  });
  const resources = page.items.map((i) =>
    toFhirObservation({
      id: i.id,
      patientId: i.patient_id,
      type: i.type,
      value: i.value,
      unit: i.unit,
      timestamp: new Date(i.timestamp),
    }),
  );
  return { total: page.total, resources, hasNext: q.page * q._count < page.total };
}
