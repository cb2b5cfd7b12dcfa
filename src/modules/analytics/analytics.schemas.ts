/** Schemas for /api/v1/analytics. */
import { type Static, Type } from 'typebox';
import { READING_TYPES } from '../../domain/readings.js';
import { errorResponses, Nullable, OneOf, PageQuery, Timestamp } from '../../http/common.schemas.js';
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

/** Page size when `page` is given without `size`. */
export const DEFAULT_ANALYTICS_PAGE_SIZE = 100;

export const AnalyticsQuery = Type.Object({
  patient_id: Type.Optional(Type.Integer({ minimum: 1, maximum: 2147483647 })),
  metric: Type.Optional(OneOf(METRIC_NAMES, { description: 'One metric name; empty means no filter' })),
  type: Type.Optional(ReadingTypeSchema),
  from: Type.Optional(Timestamp),
  to: Type.Optional(Timestamp),
  // No defaults: without page and size the whole list is returned, as the reference does.
  page: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 1_000_000,
      description: '1-based page number; with neither page nor size, every item (at most 50,000)',
    }),
  ),
  size: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 1000,
      description: `Items per page (${DEFAULT_ANALYTICS_PAGE_SIZE} when only page is given); with neither page nor size, every item (at most 50,000)`,
    }),
  ),
});
export type AnalyticsQueryT = Static<typeof AnalyticsQuery>;

export const listAnalyticsSchema = {
  tags: ['analytics'],
  summary: 'Hourly min, max and average per patient and type, newest bucket first',
  description:
    'Without page and size, every matching item (as the reference answers; above 50,000 a 422 asks for pages); with either, one page. ' +
    'The total number of items matching the filters is in the X-Total-Count header. An empty metric or type ' +
    "is no filter. An unknown patient is a 404, as is one outside the key's scope.",
  querystring: AnalyticsQuery,
  response: { 200: Type.Array(AnalyticsItem), ...errorResponses },
};

export const AnalyticsRunSchema = Type.Object(
  {
    id: Type.Integer(),
    version: OneOf([1, 2]),
    trigger: OneOf(['scheduled', 'manual', 'startup']),
    instance: Type.String({ description: 'The process that ran it' }),
    status: OneOf(['succeeded', 'failed']),
    started_at: Type.String({ format: 'date-time' }),
    finished_at: Nullable(Type.String({ format: 'date-time' })),
    buckets_touched: Type.Integer({ description: 'Analytics rows inserted, updated or deleted' }),
    rows_consumed: Type.Integer({ description: 'Change-buffer rows consumed' }),
    error: Nullable(Type.String()),
  },
  { $id: 'AnalyticsRun' },
);
export type AnalyticsRunDto = Static<typeof AnalyticsRunSchema>;

export const RunBody = Type.Object(
  {
    version: Type.Optional(
      OneOf([1, 2], {
        description: '1 = recompute everything, 2 = apply the change buffer; default ANALYTICS_VERSION',
      }),
    ),
  },
  { additionalProperties: false },
);
export type RunBodyT = Static<typeof RunBody>;

export const RunsQuery = Type.Object({
  ...PageQuery,
  size: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
});
export type RunsQueryT = Static<typeof RunsQuery>;

export const RunsPage = Type.Object({
  page: Type.Integer(),
  size: Type.Integer(),
  total: Type.Integer(),
  items: Type.Array(AnalyticsRunSchema),
});

export const runAnalyticsSchema = {
  tags: ['analytics'],
  summary: 'Run the analytics job now (admin)',
  description:
    'Runs one pass and answers with its record (status succeeded or failed). 409 when another run is in progress.',
  body: RunBody,
  response: { 200: AnalyticsRunSchema, 409: errorResponses[404], ...errorResponses },
};

export const listRunsSchema = {
  tags: ['analytics'],
  summary: 'Analytics job runs, newest first (admin)',
  querystring: RunsQuery,
  response: { 200: RunsPage, ...errorResponses },
};
