/** Aggregated reading series for charts over long periods. */
import type { Db } from '../../db/database.js';
import { NotFoundError, ValidationError } from '../../domain/errors.js';
import { parseTimestamp } from '../../domain/timestamps.js';
import { findPatient } from '../patients/patients.repository.js';
import * as repo from './series.repository.js';
import { MAX_SERIES_BUCKETS, type SeriesQueryT, type SeriesResponseDto } from './series.schemas.js';

const BUCKET_MS = { hour: 3_600_000, day: 86_400_000 } as const;

/** True when both the runtime and the database know the zone (both use IANA tzdata). */
export function isKnownTimeZone(tz: string): boolean {
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
  const tzError = new ValidationError([{ field: 'query.tz', message: 'must be an IANA time zone name' }]);
  if (!isKnownTimeZone(q.tz)) throw tzError;
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
