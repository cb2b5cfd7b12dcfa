/**
 * Request validation. Bodies are validated strictly (no type coercion, unknown properties
 * rejected by the schemas, no silent removal); query strings and path parameters arrive
 * as text and are coerced to the declared types, as FastAPI does, but only from plain
 * decimal text: "0x10", "1e3", " 7" or "" are not numbers here, though `Number()` says so.
 * Text PostgreSQL cannot store (NUL, unpaired surrogates) is refused before validation, by
 * the input-guard plugin.
 */
import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifyRequest, FastifySchemaCompiler } from 'fastify';
import { isValidDate, parseTimestamp } from '../domain/timestamps.js';

// ajv-formats ships CommonJS with a default export property.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv,
  formats: string[],
) => Ajv;

const INTEGER_TEXT = /^-?\d+$/;
const NUMBER_TEXT = /^-?\d+(?:\.\d+)?$/;

function makeAjv(coerce: boolean): Ajv {
  const options: Options = {
    allErrors: true,
    coerceTypes: coerce ? 'array' : false,
    useDefaults: true,
    removeAdditional: false,
    strict: false,
    messages: true,
    // Errors carry their schema, so the problem plugin can say "must be one of a, b, c".
    verbose: true,
  };
  const ajv = new Ajv(options);
  addFormats(ajv, ['email']);
  ajv.addFormat('iso-timestamp', { type: 'string', validate: (s: string) => parseTimestamp(s) !== undefined });
  ajv.addFormat('calendar-date', { type: 'string', validate: (s: string) => isValidDate(s) });
  return ajv;
}

type JsonSchema = { type?: unknown; properties?: Record<string, JsonSchema> };

function pointer(path: readonly (string | number)[]): string {
  return path.map((p) => `/${String(p).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}

/** Query and path values that coercion would accept but that are not plain decimal numbers. */
function numberTextErrors(schema: JsonSchema, data: unknown): ErrorObject[] {
  if (!schema.properties || data === null || typeof data !== 'object') return [];
  const out: ErrorObject[] = [];
  for (const [name, prop] of Object.entries(schema.properties)) {
    const value = (data as Record<string, unknown>)[name];
    if (typeof value !== 'string') continue;
    const type = prop.type;
    const re = type === 'integer' ? INTEGER_TEXT : type === 'number' ? NUMBER_TEXT : undefined;
    if (re && !re.test(value)) {
      out.push({
        instancePath: pointer([name]),
        schemaPath: `#/properties/${name}/type`,
        keyword: 'type',
        params: { type },
        message: `must be ${type}`,
      });
    }
  }
  return out;
}

type FastifyValidator = ((data: unknown, ctx?: unknown) => boolean) & {
  errors?: ErrorObject[] | null;
  schemaEnv?: unknown;
};

function withPrechecks(inner: ValidateFunction, precheck: (data: unknown) => ErrorObject[]): FastifyValidator {
  const validate: FastifyValidator = (data, ctx) => {
    const early = precheck(data);
    if (early.length > 0) {
      validate.errors = early;
      return false;
    }
    // biome-ignore lint/suspicious/noExplicitAny: Ajv's data context type is internal
    const ok = inner(data, ctx as any);
    validate.errors = inner.errors ?? null;
    return ok;
  };
  // Fastify passes the parent object to validators that have a schemaEnv, so that Ajv
  // can replace a coerced root value.
  validate.schemaEnv = inner.schemaEnv;
  return validate;
}

/** Builds Fastify's validator compiler with one strict and one coercing Ajv instance. */
export function buildValidatorCompiler(): FastifySchemaCompiler<unknown> {
  const strict = makeAjv(false);
  const coercing = makeAjv(true);
  return ({ schema, httpPart }) => {
    if (httpPart === 'body') return strict.compile(schema as object);
    return withPrechecks(coercing.compile(schema as object), (data) => numberTextErrors(schema as JsonSchema, data));
  };
}

/**
 * A route's preValidation hook that treats an empty value of the named query parameters
 * (`?type=`) as absent. The reference reads an empty filter as no filter, and its clients
 * send them; only the listed parameters are affected, so an empty id or date stays a 422.
 */
export function emptyQueryMeansAbsent(...names: string[]): (request: FastifyRequest) => Promise<void> {
  return async (request) => {
    const query = request.query as Record<string, unknown> | undefined;
    if (!query) return;
    for (const name of names) if (query[name] === '') delete query[name];
  };
}
