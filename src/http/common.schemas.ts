/** Schemas shared by several routes. */
import { type Static, type TSchema, type TSchemaOptions, Type } from 'typebox';

/**
 * One of a fixed list of strings or integers, as one typed `enum`. A union of literals
 * becomes an `anyOf`, which the response serializer resolves by running one validator per
 * alternative on every value it writes; an `enum` is written directly. Request errors say
 * "must be one of: ..." either way.
 */
export function OneOf<const V extends readonly string[] | readonly number[]>(values: V, options: TSchemaOptions = {}) {
  const type = typeof values[0] === 'number' ? 'integer' : 'string';
  return Type.Unsafe<V[number]>({ ...options, type, enum: [...values] });
}

/**
 * A response value that may be null, written as OpenAPI 3.0 does (`nullable: true`): the
 * response serializer checks for null directly, where a union with null would be an
 * `anyOf` resolved by a validator per value (and OpenAPI 3.0 has no null type).
 */
export function Nullable<T extends TSchema>(schema: T) {
  return Type.Unsafe<Static<T> | null>({ ...schema, nullable: true });
}

/** RFC 9457 problem details, as produced by the problem plugin. */
export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String(),
    instance: Type.String(),
    request_id: Type.String(),
    errors: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }))),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details' },
);

/** Error responses most authenticated routes can give. */
export const errorResponses = {
  400: ProblemSchema,
  401: ProblemSchema,
  403: ProblemSchema,
  404: ProblemSchema,
  422: ProblemSchema,
  429: ProblemSchema,
  503: ProblemSchema,
};

export const PageQuery = {
  page: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1, description: '1-based page number' }),
};

export const IdParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: 2147483647 }) });
export const BigIdParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) });

export const Timestamp = Type.String({
  format: 'iso-timestamp',
  maxLength: 40,
  description: 'ISO 8601; no offset means UTC',
});
