/** Schemas for /api/v1/biometrics/series: a patient's readings aggregated per hour or day. */
import { type Static, Type } from 'typebox';
import { errorResponses, OneOf, Timestamp } from '../../http/common.schemas.js';
import { ReadingTypeSchema } from '../biometrics/biometrics.schemas.js';

export const SERIES_BUCKETS = ['hour', 'day'] as const;
export type SeriesBucket = (typeof SERIES_BUCKETS)[number];

/** Most buckets one request may span, per type (about 13 months of hours). */
export const MAX_SERIES_BUCKETS = 10_000;

/** What `tz` must be; validation messages say "must be" and this. */
export const TZ_DESCRIPTION = 'an IANA time zone name such as Europe/Paris (UTC offsets are not accepted)';

export const SeriesQuery = Type.Object({
  patient_id: Type.Integer({ minimum: 1, maximum: 2147483647 }),
  type: Type.Optional(ReadingTypeSchema),
  from: Timestamp,
  to: Timestamp,
  bucket: OneOf(['hour', 'day'], { default: 'hour' }),
  tz: Type.String({
    minLength: 1,
    maxLength: 64,
    pattern: '^[A-Za-z][A-Za-z0-9_+\\-/]*$',
    default: 'UTC',
    // Also the validation message ("must be ..."), the same one the service gives.
    description: TZ_DESCRIPTION,
  }),
});
export type SeriesQueryT = Static<typeof SeriesQuery>;

export const SeriesItem = Type.Object({
  type: ReadingTypeSchema,
  bucket_start: Type.String({ format: 'date-time' }),
  bucket_end: Type.String({ format: 'date-time' }),
  min: Type.Number(),
  max: Type.Number(),
  avg: Type.Number(),
  count: Type.Integer(),
  unit: Type.String(),
});
export type SeriesItemDto = Static<typeof SeriesItem>;

export const SeriesResponse = Type.Object({
  patient_id: Type.Integer(),
  bucket: Type.String(),
  tz: Type.String(),
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  items: Type.Array(SeriesItem),
});
export type SeriesResponseDto = Static<typeof SeriesResponse>;

export const seriesSchema = {
  tags: ['biometrics'],
  summary: "A patient's readings aggregated per hour or day (min, max, average, count), oldest first",
  description:
    'Computed from the stored readings at request time, so it is always current. `from` is inclusive, `to` ' +
    `exclusive; buckets are hours or calendar days of \`tz\`. At most ${MAX_SERIES_BUCKETS} buckets per type.`,
  querystring: SeriesQuery,
  response: { 200: SeriesResponse, ...errorResponses },
};
