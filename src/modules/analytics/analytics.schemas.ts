/** Schemas for /api/v1/analytics. */
import { type Static, Type } from 'typebox';
import { READING_TYPES } from '../../domain/readings.js';
import { errorResponses, PageQuery, Timestamp } from '../../http/common.schemas.js';
import { ReadingTypeSchema } from '../biometrics/biometrics.schemas.js';

export const STATS = ['min', 'max', 'avg'] as const;
export type Stat = (typeof STATS)[number];
export const METRIC_NAMES = READING_TYPES.flatMap((t) => STATS.map((s) => `${t}_${s}`));

export const AnalyticsItem = Type.Object(
  {
    patient_id: Type.Integer(),
    metric_name: Type.String({ description: '<type>_<min|max|avg>' }),
    value: Type.Number(),
    computed_at: Type.String({ format: 'date-time' }),
    bucket_start: Type.String({ format: 'date-time' }),
    bucket_end: Type.String({ format: 'date-time' }),
    count: Type.Integer(),
  },
  { $id: 'AnalyticsItem' },
);
export type AnalyticsItemDto = Static<typeof AnalyticsItem>;

export const AnalyticsQuery = Type.Object({
  patient_id: Type.Optional(Type.Integer({ minimum: 1, maximum: 2147483647 })),
  metric: Type.Optional(Type.Union(METRIC_NAMES.map((m) => Type.Literal(m)))),
  type: Type.Optional(ReadingTypeSchema),
  from: Type.Optional(Timestamp),
  to: Type.Optional(Timestamp),
  ...PageQuery,
  size: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
});
export type AnalyticsQueryT = Static<typeof AnalyticsQuery>;

export const listAnalyticsSchema = {
  tags: ['analytics'],
  summary: 'Hourly min, max and average per patient and type, newest bucket first',
  description: 'The total number of items matching the filters is in the X-Total-Count header.',
  querystring: AnalyticsQuery,
  response: { 200: Type.Array(AnalyticsItem), ...errorResponses },
};
