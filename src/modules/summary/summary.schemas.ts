/** Schemas for the per-patient clinical summary (/api/v1/patients/summary, /patients/{id}/summary). */
import { type Static, Type } from 'typebox';
import { BP_CATEGORIES, BP_IMPLAUSIBLE, GLUCOSE_STATUSES } from '../../domain/clinical.js';
import { errorResponses, IdParams, Nullable, OneOf, PageQuery } from '../../http/common.schemas.js';

const GlucoseStatusSchema = OneOf(GLUCOSE_STATUSES);
const BpCategorySchema = OneOf([...BP_CATEGORIES, BP_IMPLAUSIBLE]);

const latestFields = {
  id: Type.Integer(),
  value: Type.Number(),
  unit: Type.String(),
  timestamp: Type.String({ format: 'date-time' }),
};
const LatestReading = Type.Object(latestFields);
const LatestGlucose = Type.Object({
  ...latestFields,
  status: GlucoseStatusSchema,
});

export const PatientSummarySchema = Type.Object(
  {
    patient: Type.Object({
      id: Type.Integer(),
      name: Type.String(),
      dob: Type.String({ format: 'date' }),
      gender: Type.String(),
      email: Type.String(),
    }),
    latest: Type.Object({
      glucose: Nullable(LatestGlucose),
      systolic: Nullable(LatestReading),
      diastolic: Nullable(LatestReading),
      weight: Nullable(LatestReading),
    }),
    blood_pressure: Nullable(
      Type.Object(
        {
          systolic: Type.Number(),
          diastolic: Type.Number(),
          timestamp: Type.String({ format: 'date-time' }),
          category: BpCategorySchema,
        },
        {
          description:
            'The latest systolic/diastolic pair taken at the same instant and its ACC/AHA 2017 category; ' +
            '"implausible" (no category) when diastolic is at or above systolic',
        },
      ),
    ),
    time_in_range: Type.Object(
      {
        from: Type.String({ format: 'date-time' }),
        to: Type.String({ format: 'date-time' }),
        readings: Type.Integer(),
        in_range: Type.Integer(),
        below: Type.Integer(),
        above: Type.Integer(),
        in_range_pct: Nullable(Type.Number()),
        below_pct: Nullable(Type.Number()),
        above_pct: Nullable(Type.Number()),
      },
      {
        description:
          'Glucose readings of the last 14 days (up to `to`, the server clock plus the 24 hours a timestamp may ' +
          'run ahead) within 70–180 mg/dL as rounded to whole mg/dL, below and above; percentages to 0.1',
      },
    ),
    attention: Type.Object(
      {
        score: Type.Integer(),
        reasons: Type.Array(Type.Object({ code: Type.String(), message: Type.String(), points: Type.Integer() })),
      },
      { description: 'Sum of the points of each finding; higher needs attention sooner (a sorting aid)' },
    ),
  },
  { $id: 'PatientSummary' },
);
export type PatientSummaryDto = Static<typeof PatientSummarySchema>;

/**
 * Most patients one attention-sorted request may score. Scoring reads every matching
 * patient's 14 days of glucose; beyond this, narrow the list with `search` or sort by
 * name or id (which page in SQL and cost the same for any panel size).
 */
export const ATTENTION_SORT_LIMIT = 1000;

export const SUMMARY_SORTS = ['attention', 'name', 'id'] as const;
export type SummarySort = (typeof SUMMARY_SORTS)[number];

export const SummaryListQuery = Type.Object({
  ...PageQuery,
  size: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  search: Type.Optional(
    Type.String({ minLength: 1, maxLength: 100, description: 'Case-insensitive match on name or email' }),
  ),
  sort: OneOf(SUMMARY_SORTS, {
    default: 'attention',
    description:
      `attention: highest attention score first, then name (at most ${ATTENTION_SORT_LIMIT} matching patients; ` +
      '422 beyond); name; id',
  }),
});
export type SummaryListQueryT = Static<typeof SummaryListQuery>;

export const SummaryPage = Type.Object({
  page: Type.Integer(),
  size: Type.Integer(),
  total: Type.Integer(),
  sort: Type.String(),
  items: Type.Array(PatientSummarySchema),
});
export type SummaryPageDto = Static<typeof SummaryPage>;

export const listSummariesSchema = {
  tags: ['summary'],
  summary: 'A page of patients with latest readings, time in range, blood-pressure category and attention score',
  querystring: SummaryListQuery,
  response: { 200: SummaryPage, ...errorResponses },
};

export const getSummarySchema = {
  tags: ['summary'],
  summary: "One patient's clinical summary",
  params: IdParams,
  response: { 200: PatientSummarySchema, ...errorResponses },
};
