/** Request and response schemas for /api/v1/biometrics. */
import { type Static, Type } from 'typebox';
import { READING_TYPES } from '../../domain/readings.js';
import { BigIdParams, errorResponses, OneOf, PageQuery, Timestamp } from '../../http/common.schemas.js';

export const ReadingTypeSchema = OneOf(READING_TYPES, {
  description: 'glucose (mg/dL), systolic and diastolic (mmHg), weight (kg)',
});

export const ReadingSchema = Type.Object(
  {
    id: Type.Integer(),
    patient_id: Type.Integer(),
    timestamp: Type.String({ format: 'date-time' }),
    type: ReadingTypeSchema,
    value: Type.Number(),
    unit: Type.String(),
  },
  { $id: 'Reading' },
);
export type ReadingDto = Static<typeof ReadingSchema>;

export const UpsertReadingBody = Type.Object(
  {
    patient_id: Type.Integer({ minimum: 1, maximum: 2147483647 }),
    timestamp: Timestamp,
    type: ReadingTypeSchema,
    value: Type.Number({ description: 'In `unit`, or the canonical unit of the type when omitted' }),
    unit: Type.Optional(Type.String({ minLength: 1, maxLength: 16, description: 'mg/dL, mmol/L, mmHg, kg or lb' })),
  },
  { additionalProperties: false },
);
export type UpsertReadingInput = Static<typeof UpsertReadingBody>;

export const HistoryQuery = Type.Object({
  patient_id: Type.Integer({ minimum: 1, maximum: 2147483647 }),
  type: Type.Optional(ReadingTypeSchema),
  from: Type.Optional(Timestamp),
  to: Type.Optional(Timestamp),
  ...PageQuery,
  size: Type.Integer({ minimum: 1, maximum: 1000, default: 20 }),
});
export type HistoryQueryT = Static<typeof HistoryQuery>;

export const HistoryPage = Type.Object({
  page: Type.Integer(),
  size: Type.Integer(),
  total: Type.Integer(),
  items: Type.Array(ReadingSchema),
});

export const historySchema = {
  tags: ['biometrics'],
  summary: "A patient's readings, newest first",
  querystring: HistoryQuery,
  response: { 200: HistoryPage, ...errorResponses },
};

export const upsertSchema = {
  tags: ['biometrics'],
  summary: 'Insert or update a reading (unique per patient, type and timestamp)',
  body: UpsertReadingBody,
  response: { 200: ReadingSchema, ...errorResponses },
};

export const deleteSchema = {
  tags: ['biometrics'],
  summary: 'Delete a reading',
  params: BigIdParams,
  response: { 200: Type.Object({ ok: Type.Boolean(), deleted_id: Type.Integer() }), ...errorResponses },
};
