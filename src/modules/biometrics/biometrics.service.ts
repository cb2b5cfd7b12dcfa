/** Reading use cases: history, upsert with unit conversion, delete. */
import type { Db } from '../../db/database.js';
import { NotFoundError, ValidationError } from '../../domain/errors.js';
import { isValueProblem, normalizeValue, type ReadingType } from '../../domain/readings.js';
import { latestAcceptedMs, parseTimestamp, TOO_FAR_AHEAD } from '../../domain/timestamps.js';
import { patientExists } from '../patients/patients.repository.js';
import * as repo from './biometrics.repository.js';
import type { HistoryQueryT, ReadingDto, UpsertReadingInput } from './biometrics.schemas.js';

export interface BiometricDeps {
  db: Db;
  /** The server's clock: how far ahead a reading's timestamp may be is measured from it. */
  now: () => Date;
  /** Where a failed count fold is reported (pino's signature). */
  log?: { warn(obj: object, msg: string): void };
}

export type PatientScope = number[] | null;

export function toReadingDto(r: repo.ReadingRow): ReadingDto {
  return {
    id: r.id,
    patient_id: r.patientId,
    timestamp: r.timestamp.toISOString(),
    type: r.type,
    value: r.value,
    unit: r.unit,
  };
}

function inScope(scope: PatientScope, id: number): boolean {
  return scope === null || scope.includes(id);
}

function isForeignKeyViolation(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } };
  return e?.code === '23503' || e?.cause?.code === '23503';
}

function toDate(field: string, text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const ms = parseTimestamp(text);
  if (ms === undefined) throw new ValidationError([{ field, message: 'must be an ISO 8601 date-time' }]);
  return new Date(ms);
}

/**
 * Count deltas a patient may collect before a history read folds them: the total then
 * costs at most this many rows, and each delta is folded once.
 */
const FOLD_COUNTS_AFTER = 32;

/** Folds a patient's count deltas; a failure (the patient erased meanwhile) only costs a later read. */
async function foldCounts(deps: BiometricDeps, patientId: number): Promise<void> {
  try {
    await repo.foldReadingCounts(deps.db, [patientId]);
  } catch (err) {
    deps.log?.warn({ err, patientId }, 'could not fold reading counts');
  }
}

/**
 * Folds the count deltas of every patient that collected more than FOLD_COUNTS_AFTER of
 * them, read or not; returns how many patients were folded. The scheduled analytics job
 * calls it after each run.
 */
export function foldPiledUpReadingCounts(db: Db): Promise<number> {
  return repo.foldPiledUpCounts(db, FOLD_COUNTS_AFTER);
}

/**
 * One page of a patient's readings, newest first (ties broken by id). An unknown patient
 * is a 404, the same answer a key scoped to other patients gets.
 */
export async function readingHistory(
  deps: BiometricDeps,
  scope: PatientScope,
  q: HistoryQueryT,
): Promise<{ page: number; size: number; total: number; items: ReadingDto[] }> {
  if (!inScope(scope, q.patient_id)) throw new NotFoundError('Patient');
  const from = toDate('query.from', q.from);
  const to = toDate('query.to', q.to);
  const { rows, total, countDeltas } = await repo.history(
    deps.db,
    { patientId: q.patient_id, type: q.type, from, to },
    q.size,
    (q.page - 1) * q.size,
  );
  if (countDeltas > FOLD_COUNTS_AFTER) await foldCounts(deps, q.patient_id);
  // Only an empty result needs the extra lookup to tell "no readings" from "no patient".
  if (total === 0 && !(await patientExists(deps.db, q.patient_id))) throw new NotFoundError('Patient');
  return { page: q.page, size: q.size, total, items: rows.map(toReadingDto) };
}

/**
 * Validates and converts one reading to canonical units; throws 422 with field errors. A
 * timestamp more than FUTURE_TOLERANCE_MS after `now` is rejected.
 */
export function normalizeReading(
  input: UpsertReadingInput,
  now: Date,
): {
  patientId: number;
  type: UpsertReadingInput['type'];
  value: number;
  unit: string;
  timestamp: Date;
} {
  const ms = parseTimestamp(input.timestamp);
  if (ms === undefined)
    throw new ValidationError([{ field: 'body.timestamp', message: 'must be an ISO 8601 date-time' }]);
  if (ms > latestAcceptedMs(now.getTime())) {
    throw new ValidationError([{ field: 'body.timestamp', message: TOO_FAR_AHEAD }]);
  }
  const v = normalizeValue(input.type, input.value, input.unit);
  if (isValueProblem(v)) {
    throw new ValidationError([
      { field: v.reason === 'unknown_unit' ? 'body.unit' : 'body.value', message: v.message },
    ]);
  }
  return { patientId: input.patient_id, type: input.type, value: v.value, unit: v.unit, timestamp: new Date(ms) };
}

/** 422 for a blood-pressure value that would make the pair stored at its time inverted. */
function invertedPair(type: ReadingType, partnerValue: number): ValidationError {
  const message =
    type === 'systolic'
      ? `systolic must be above the diastolic stored for this patient and time (${partnerValue} mmHg)`
      : `diastolic must be below the systolic stored for this patient and time (${partnerValue} mmHg)`;
  return new ValidationError([{ field: 'body.value', message }]);
}

/**
 * Inserts or updates one reading. A systolic or diastolic value whose stored partner (same
 * patient and time) would make the pair inverted is refused with 422 and nothing stored.
 */
export async function upsertReading(
  deps: BiometricDeps,
  scope: PatientScope,
  input: UpsertReadingInput,
): Promise<{ reading: ReadingDto; changed: boolean }> {
  if (!inScope(scope, input.patient_id)) throw new NotFoundError('Patient');
  const r = normalizeReading(input, deps.now());
  try {
    const result = await repo.upsertReading(deps.db, r);
    if (result && 'partnerValue' in result) throw invertedPair(r.type, result.partnerValue);
    if (result) return { reading: toReadingDto(result.row), changed: result.changed };
    // A concurrent writer stored the same value between our snapshot and the conflict check.
    const row = await repo.findReadingForUpsertRace(deps.db, r);
    if (!row) throw new Error('upsert returned no row');
    return { reading: toReadingDto(row), changed: false };
  } catch (err) {
    if (isForeignKeyViolation(err)) throw new NotFoundError('Patient');
    throw err;
  }
}

export async function deleteReading(
  deps: BiometricDeps,
  scope: PatientScope,
  id: number,
): Promise<{ ok: true; deleted_id: number; patient_id: number }> {
  const d = await repo.deleteReading(deps.db, id, scope);
  if (!d) throw new NotFoundError('Reading');
  return { ok: true, deleted_id: d.id, patient_id: d.patientId };
}
