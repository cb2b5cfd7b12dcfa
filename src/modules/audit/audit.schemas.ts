/** Schemas for GET /api/v1/audit. */
import { type Static, Type } from 'typebox';
import { errorResponses, Nullable, OneOf, PageQuery, Timestamp } from '../../http/common.schemas.js';

export const OUTCOMES = ['allowed', 'denied', 'not_found', 'rejected', 'rate_limited', 'error'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export const AuditEventSchema = Type.Object(
  {
    id: Type.Integer(),
    at: Type.String({ format: 'date-time' }),
    key_id: Nullable(Type.Integer()),
    role: Nullable(Type.String()),
    action: Type.String({ description: 'METHOD and route pattern' }),
    method: Nullable(Type.String()),
    route: Nullable(Type.String()),
    status: Nullable(Type.Integer()),
    outcome: Type.String({ description: OUTCOMES.join(', ') }),
    patient_ids: Nullable(Type.Array(Type.Integer())),
    record_ids: Nullable(Type.Array(Type.Integer())),
    request_id: Nullable(Type.String()),
    client_ip: Nullable(Type.String()),
    detail: Nullable(Type.Object({}, { additionalProperties: true })),
  },
  { $id: 'AuditEvent' },
);
export type AuditEventDto = Static<typeof AuditEventSchema>;

export const AuditQuery = Type.Object({
  patient_id: Type.Optional(Type.Integer({ minimum: 1, maximum: 2147483647 })),
  key_id: Type.Optional(Type.Integer({ minimum: 1, maximum: 2147483647 })),
  from: Type.Optional(Timestamp),
  to: Type.Optional(Timestamp),
  outcome: Type.Optional(OneOf(OUTCOMES)),
  ...PageQuery,
  size: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
});
export type AuditQueryT = Static<typeof AuditQuery>;

export const listAuditSchema = {
  tags: ['audit'],
  summary: 'Audit trail of patient-data access and denied requests, newest first',
  querystring: AuditQuery,
  response: {
    200: Type.Object({
      page: Type.Integer(),
      size: Type.Integer(),
      total: Type.Integer(),
      items: Type.Array(AuditEventSchema),
    }),
    ...errorResponses,
  },
};
