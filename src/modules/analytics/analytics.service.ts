/** Analytics read use case. */
import type { Db } from '../../db/database.js';
import { NotFoundError, ValidationError } from '../../domain/errors.js';
import type { ReadingType } from '../../domain/readings.js';
import { parseTimestamp } from '../../domain/timestamps.js';
import { patientExists } from '../patients/patients.repository.js';
import { bucketEndOf } from './analytics.buckets.js';
import * as repo from './analytics.repository.js';
import {
  type AnalyticsItemDto,
  type AnalyticsQueryT,
  DEFAULT_ANALYTICS_PAGE_SIZE,
  STATS,
  type Stat,
} from './analytics.schemas.js';

function parseMetric(metric: string): { type: ReadingType; stat: Stat } {
  const i = metric.lastIndexOf('_');
  return { type: metric.slice(0, i) as ReadingType, stat: metric.slice(i + 1) as Stat };
}

function toDate(field: string, text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const ms = parseTimestamp(text);
  if (ms === undefined) throw new ValidationError([{ field, message: 'must be an ISO 8601 date-time' }]);
  return new Date(ms);
}

/**
 * Most items an unpaged list answers. Above it the request is refused with a pointer to
 * paging, rather than building a response of unbounded size in memory (300,000 items
 * took about 650 MB and 2 s): clients that know no paging get everything up to here.
 */
export const MAX_UNPAGED_ANALYTICS_ITEMS = 50_000;

/** The page of items a request asks for, or undefined for all of them. */
function itemWindow(q: AnalyticsQueryT): { offset: number; size: number } | undefined {
  if (q.page === undefined && q.size === undefined) return undefined;
  const size = q.size ?? DEFAULT_ANALYTICS_PAGE_SIZE;
  return { offset: ((q.page ?? 1) - 1) * size, size };
}

/**
 * Analytics items, newest bucket first, with the number matching the filters. Without
 * `page` and `size` every matching item is returned (the reference has no paging), up to
 * {@link MAX_UNPAGED_ANALYTICS_ITEMS}. A
 * named patient that does not exist is a 404, the same answer a key scoped to other
 * patients gets.
 */
export async function listAnalytics(
  deps: { db: Db },
  scope: number[] | null,
  q: AnalyticsQueryT,
): Promise<{ items: AnalyticsItemDto[]; total: number }> {
  if (q.patient_id !== undefined && scope !== null && !scope.includes(q.patient_id)) throw new NotFoundError('Patient');
  const m = q.metric ? parseMetric(q.metric) : undefined;
  if (m && q.type && m.type !== q.type) {
    throw new ValidationError([{ field: 'query.type', message: 'does not match the type of metric' }]);
  }
  const stats: readonly Stat[] = m ? [m.stat] : STATS;
  const filter: repo.AnalyticsFilter = {
    scope,
    patientId: q.patient_id,
    type: m?.type ?? q.type,
    from: toDate('query.from', q.from),
    to: toDate('query.to', q.to),
  };
  // Each bucket is stats.length items: a page of items is read as the buckets it spans.
  const page = itemWindow(q);
  const first = page ? Math.floor(page.offset / stats.length) : 0;
  // Unpaged: one bucket past the cap tells "too many" without a separate count.
  const maxBuckets = Math.floor(MAX_UNPAGED_ANALYTICS_ITEMS / stats.length);
  const [buckets, bucketCount] = await Promise.all([
    repo.listBuckets(
      deps.db,
      filter,
      page
        ? { offset: first, limit: Math.ceil((page.offset + page.size) / stats.length) - first }
        : { offset: 0, limit: maxBuckets + 1 },
    ),
    page ? repo.countBuckets(deps.db, filter) : undefined,
  ]);
  if (!page && buckets.length > maxBuckets) {
    throw new ValidationError([
      {
        field: 'query.size',
        message: `more than ${MAX_UNPAGED_ANALYTICS_ITEMS} items match: ask for them in pages with page and size, or narrow the list with metric, type, from or to`,
      },
    ]);
  }
  const total = (bucketCount ?? buckets.length) * stats.length;
  // Only an empty result needs the extra lookup to tell "no analytics" from "no patient".
  if (total === 0 && q.patient_id !== undefined && !(await patientExists(deps.db, q.patient_id))) {
    throw new NotFoundError('Patient');
  }
  const items: AnalyticsItemDto[] = [];
  for (const b of buckets) {
    // Formatted once per bucket, shared by its items.
    const computedAt = new Date(b.computedAtMs).toISOString();
    const bucketStart = new Date(b.bucketStartMs).toISOString();
    const bucketEnd = bucketEndOf(new Date(b.bucketStartMs)).toISOString();
    for (const stat of stats) {
      items.push({
        patient_id: b.patientId,
        metric_name: `${b.type}_${stat}`,
        value: stat === 'avg' ? b.sum / b.count : b[stat],
        computed_at: computedAt,
        bucket_start: bucketStart,
        bucket_end: bucketEnd,
        count: b.count,
      });
    }
  }
  if (!page) return { items, total };
  const skip = page.offset - first * stats.length;
  return { items: items.slice(skip, skip + page.size), total };
}
