/** Analytics read use case. */
import type { Db } from '../../db/database.js';
import { NotFoundError, ValidationError } from '../../domain/errors.js';
import type { ReadingType } from '../../domain/readings.js';
import { parseTimestamp } from '../../domain/timestamps.js';
import { bucketEndOf } from './analytics.buckets.js';
import * as repo from './analytics.repository.js';
import type { AnalyticsItemDto, AnalyticsQueryT, Stat } from './analytics.schemas.js';

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
  const { rows, total } = await repo.listMetrics(
    deps.db,
    {
      scope,
      patientId: q.patient_id,
      type: m?.type ?? q.type,
      stat: m?.stat,
      from: toDate('query.from', q.from),
      to: toDate('query.to', q.to),
    },
    q.size,
    (q.page - 1) * q.size,
  );
  return {
    total,
    items: rows.map((r) => ({
      patient_id: r.patientId,
      metric_name: `${r.type}_${r.stat}`,
      value: r.value,
      computed_at: r.computedAt.toISOString(),
      bucket_start: r.bucketStart.toISOString(),
      bucket_end: bucketEndOf(r.bucketStart).toISOString(),
      count: r.count,
    })),
  };
}
