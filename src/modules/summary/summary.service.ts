/**
 * Patient summary use cases: the panel (a page of patients, optionally ordered by who
 * needs attention first) and one patient's summary.
 */
import type { Db } from '../../db/database.js';
import {
  attention,
  BP_IMPLAUSIBLE,
  bpCategory,
  glucoseStatus,
  percent,
  TIME_IN_RANGE_DAYS,
} from '../../domain/clinical.js';
import { NotFoundError, ValidationError } from '../../domain/errors.js';
import { latestAcceptedMs } from '../../domain/timestamps.js';
import * as repo from './summary.repository.js';
import {
  ATTENTION_SORT_LIMIT,
  type PatientSummaryDto,
  type SummaryListQueryT,
  type SummaryPageDto,
} from './summary.schemas.js';

export interface SummaryDeps {
  db: Db;
  now: () => Date;
}

const DAY_MS = 86_400_000;

/**
 * The last 14 days, up to the latest timestamp a reading may be stored with (now plus
 * FUTURE_TOLERANCE_MS): a reading stamped a few hours ahead (local time sent without an
 * offset) is the patient's latest and counts in time in range, instead of being hidden
 * until the clock catches up.
 */
function tirWindow(now: Date): { from: Date; to: Date } {
  // `to` is exclusive: one millisecond past the latest accepted timestamp includes it.
  return {
    from: new Date(now.getTime() - TIME_IN_RANGE_DAYS * DAY_MS),
    to: new Date(latestAcceptedMs(now.getTime()) + 1),
  };
}

function latestDto(l: repo.LatestRow) {
  return { id: l.id, value: l.value, unit: l.unit, timestamp: l.timestamp.toISOString() };
}

/** Maps a repository row to the API shape, classifying readings and scoring attention. */
export function toSummaryDto(row: repo.SummaryRow, window: { from: Date; to: Date }): PatientSummaryDto {
  const g = row.latest.glucose;
  const r = row.range;
  const att = attention({
    latestGlucose: g && { value: g.value, timestamp: g.timestamp },
    bp: row.bp,
    range: r,
    since: window.from,
  });
  return {
    patient: { id: row.id, name: row.name, dob: row.dob, gender: row.gender, email: row.email },
    latest: {
      glucose: g && { ...latestDto(g), status: glucoseStatus(g.value) },
      systolic: row.latest.systolic && latestDto(row.latest.systolic),
      diastolic: row.latest.diastolic && latestDto(row.latest.diastolic),
      weight: row.latest.weight && latestDto(row.latest.weight),
    },
    blood_pressure: row.bp && {
      systolic: row.bp.systolic,
      diastolic: row.bp.diastolic,
      timestamp: row.bp.timestamp.toISOString(),
      category: bpCategory(row.bp.systolic, row.bp.diastolic) ?? BP_IMPLAUSIBLE,
    },
    time_in_range: {
      from: window.from.toISOString(),
      to: new Date(window.to.getTime() - 1).toISOString(),
      readings: r.readings,
      in_range: r.inRange,
      below: r.below,
      above: r.above,
      in_range_pct: percent(r.inRange, r.readings),
      below_pct: percent(r.below, r.readings),
      above_pct: percent(r.above, r.readings),
    },
    attention: att,
  };
}

function byAttention(a: PatientSummaryDto, b: PatientSummaryDto): number {
  return (
    b.attention.score - a.attention.score ||
    a.patient.name.toLowerCase().localeCompare(b.patient.name.toLowerCase()) ||
    a.patient.id - b.patient.id
  );
}

/**
 * A page of summaries. Sorting by name or id pages in SQL; sorting by attention scores
 * every matching patient first (the score is computed here, in one place), then pages.
 */
export async function listSummaries(
  deps: SummaryDeps,
  scope: number[] | null,
  q: SummaryListQueryT,
): Promise<SummaryPageDto> {
  const window = tirWindow(deps.now());
  const offset = (q.page - 1) * q.size;
  const filter = { scope, search: q.search };
  if (q.sort === 'attention') {
    const matching = await repo.countMatching(deps.db, filter);
    if (matching > ATTENTION_SORT_LIMIT) {
      throw new ValidationError([
        {
          field: 'query.sort',
          message: `sorting by attention is limited to ${ATTENTION_SORT_LIMIT} patients (${matching} match); narrow the list with search or sort by name or id`,
        },
      ]);
    }
    const { rows } = await repo.summaryRows(deps.db, filter, window, undefined);
    const all = rows.map((r) => toSummaryDto(r, window)).sort(byAttention);
    return { page: q.page, size: q.size, total: all.length, sort: q.sort, items: all.slice(offset, offset + q.size) };
  }
  const { rows, total } = await repo.summaryRows(deps.db, filter, window, { order: q.sort, limit: q.size, offset });
  return { page: q.page, size: q.size, total, sort: q.sort, items: rows.map((r) => toSummaryDto(r, window)) };
}

/** One patient's summary, or 404 when missing or outside the caller's scope. */
export async function getSummary(deps: SummaryDeps, scope: number[] | null, id: number): Promise<PatientSummaryDto> {
  if (scope !== null && !scope.includes(id)) throw new NotFoundError('Patient');
  const window = tirWindow(deps.now());
  const { rows } = await repo.summaryRows(deps.db, { scope, ids: [id] }, window, undefined);
  const row = rows[0];
  if (!row) throw new NotFoundError('Patient');
  return toSummaryDto(row, window);
}
