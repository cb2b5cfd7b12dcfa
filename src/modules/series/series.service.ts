/** Aggregated reading series for charts over long periods. */
import type { Db } from '../../db/database.js';
import { NotFoundError, ValidationError } from '../../domain/errors.js';
import { parseTimestamp } from '../../domain/timestamps.js';
import { findPatient } from '../patients/patients.repository.js';
import * as repo from './series.repository.js';
import { MAX_SERIES_BUCKETS, type SeriesQueryT, type SeriesResponseDto, TZ_DESCRIPTION } from './series.schemas.js';

const BUCKET_MS = { hour: 3_600_000, day: 86_400_000 } as const;

/**
 * Offsets (`+05`, `-03:00`, `0`) and POSIX-style zones (`UTC+5`, `GMT-3`). Newer runtimes
 * accept some offsets as zones while PostgreSQL reads them as POSIX zones with the opposite
 * sign (buckets shifted by twice the offset), and older runtimes refuse them; so they are
 * refused everywhere. `Etc/GMT+5` is an IANA name, which both sides read alike.
 */
const OFFSET_OR_POSIX = /^(?:[^A-Za-z]|(?:UTC|GMT|UT)[+-])/i;

/** True for an IANA zone name, which both the runtime and the database read from tzdata. */
export function isIanaTimeZone(tz: string): boolean {
  if (OFFSET_OR_POSIX.test(tz)) return false;
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function isInvalidParameter(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } };
  return e?.code === '22023' || e?.cause?.code === '22023';
}

export async function readingSeries(
  deps: { db: Db },
  scope: number[] | null,
  q: SeriesQueryT,
): Promise<SeriesResponseDto> {
  if (scope !== null && !scope.includes(q.patient_id)) throw new NotFoundError('Patient');
  // The schema's format check guarantees both parse.
  const from = new Date(parseTimestamp(q.from) ?? Number.NaN);
  const to = new Date(parseTimestamp(q.to) ?? Number.NaN);
  if (!(to > from)) throw new ValidationError([{ field: 'query.to', message: 'must be later than from' }]);
  if ((to.getTime() - from.getTime()) / BUCKET_MS[q.bucket] > MAX_SERIES_BUCKETS) {
    throw new ValidationError([
      {
        field: 'query.bucket',
        message: `the range spans more than ${MAX_SERIES_BUCKETS} ${q.bucket} buckets; use a shorter range or bucket=day`,
      },
    ]);
  }
  const tzError = new ValidationError([{ field: 'query.tz', message: `must be ${TZ_DESCRIPTION}` }]);
  if (!isIanaTimeZone(q.tz)) throw tzError;
  if (!(await findPatient(deps.db, q.patient_id))) throw new NotFoundError('Patient');
  let rows: repo.SeriesRow[];
  try {
    rows = await repo.seriesRows(deps.db, {
      patientId: q.patient_id,
      type: q.type,
      from,
      to,
      bucket: q.bucket,
      tz: q.tz,
    });
  } catch (err) {
    if (isInvalidParameter(err)) throw tzError;
    throw err;
  }
  return {
    patient_id: q.patient_id,
    bucket: q.bucket,
    tz: q.tz,
    from: from.toISOString(),
    to: to.toISOString(),
    items: rows.map((r) => ({
      type: r.type,
      bucket_start: r.bucketStart.toISOString(),
      bucket_end: r.bucketEnd.toISOString(),
      min: r.min,
      max: r.max,
      avg: r.avg,
      count: r.count,
      unit: r.unit,
    })),
  };
}
