/** Schemas for /api/v1/keys (key management, admin only). */
import { type Static, Type } from 'typebox';
import { errorResponses, IdParams, Nullable, OneOf, PageQuery, Timestamp } from '../../http/common.schemas.js';
import { ROLES } from './keys.roles.js';
import type { KeyInfo } from './keys.service.js';

const RoleSchema = OneOf(ROLES, { description: ROLES.join(', ') });

/** A key as listed: never the secret or its hash. */
export const KeyInfoSchema = Type.Object(
  {
    id: Type.Integer(),
    name: Type.String(),
    prefix: Type.String({ description: 'Visible part of the key (pp_<prefix>_...), for identification' }),
    role: Type.String(),
    patient_ids: Nullable(Type.Array(Type.Integer(), { description: 'null = all patients' })),
    bootstrap: Type.Boolean(),
    created_at: Type.String({ format: 'date-time' }),
    expires_at: Nullable(Type.String({ format: 'date-time' })),
    revoked_at: Nullable(Type.String({ format: 'date-time' })),
  },
  { $id: 'ApiKeyInfo' },
);
export type KeyInfoDto = Static<typeof KeyInfoSchema>;

/** A key's public description as the API and `keys --json` show it (never the secret or its hash). */
export function toKeyInfoDto(k: KeyInfo): KeyInfoDto {
  return {
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    role: k.role,
    patient_ids: k.patientIds,
    bootstrap: k.bootstrap,
    created_at: k.createdAt.toISOString(),
    expires_at: k.expiresAt?.toISOString() ?? null,
    revoked_at: k.revokedAt?.toISOString() ?? null,
  };
}

export const CreateKeyBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    role: RoleSchema,
    patient_ids: Type.Optional(
      Type.Union([
        Type.Array(Type.Integer({ minimum: 1, maximum: 2147483647 }), {
          minItems: 1,
          maxItems: 1000,
          uniqueItems: true,
        }),
        Type.Null(),
      ]),
    ),
    expires_at: Type.Optional(Type.Union([Timestamp, Type.Null()])),
  },
  { additionalProperties: false },
);
export type CreateKeyInput = Static<typeof CreateKeyBody>;

export const createKeySchema = {
  tags: ['keys'],
  summary: 'Create an API key; the secret is in the response only this once',
  body: CreateKeyBody,
  response: {
    201: Type.Object({
      key: Type.String({ description: 'The secret; store it now, it cannot be shown again' }),
      ...KeyInfoSchema.properties,
    }),
    ...errorResponses,
  },
};

export const listKeysSchema = {
  tags: ['keys'],
  summary: 'List API keys (never their secrets)',
  querystring: Type.Object({ ...PageQuery, size: Type.Integer({ minimum: 1, maximum: 100, default: 50 }) }),
  response: {
    200: Type.Object({
      page: Type.Integer(),
      size: Type.Integer(),
      total: Type.Integer(),
      items: Type.Array(KeyInfoSchema),
    }),
    ...errorResponses,
  },
};

export const revokeKeySchema = {
  tags: ['keys'],
  summary: 'Revoke an API key, with immediate effect',
  params: IdParams,
  response: { 200: KeyInfoSchema, 409: errorResponses[404], ...errorResponses },
};
