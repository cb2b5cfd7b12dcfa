/**
 * Request validation. Bodies are validated strictly (no type coercion, unknown properties
 * rejected by the schemas, no silent removal); query strings and path parameters arrive
 * as text and are coerced to the declared types, as FastAPI does.
 */
import { Ajv, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import { isValidDate, parseTimestamp } from '../domain/timestamps.js';

// ajv-formats ships CommonJS with a default export property.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv,
  formats: string[],
) => Ajv;

function makeAjv(coerce: boolean): Ajv {
  const options: Options = {
    allErrors: true,
    coerceTypes: coerce ? 'array' : false,
    useDefaults: true,
    removeAdditional: false,
    strict: false,
    messages: true,
  };
  const ajv = new Ajv(options);
  addFormats(ajv, ['email']);
  ajv.addFormat('iso-timestamp', { type: 'string', validate: (s: string) => parseTimestamp(s) !== undefined });
  ajv.addFormat('calendar-date', { type: 'string', validate: (s: string) => isValidDate(s) });
  return ajv;
}

/** Builds Fastify's validator compiler with one strict and one coercing Ajv instance. */
export function buildValidatorCompiler(): FastifySchemaCompiler<unknown> {
  const strict = makeAjv(false);
  const coercing = makeAjv(true);
  return ({ schema, httpPart }) => {
    const ajv = httpPart === 'body' ? strict : coercing;
    return ajv.compile(schema as object);
  };
}
