/**
 * One error shape for the whole API: RFC 9457 problem details (application/problem+json)
 * with the request id and, for validation failures, a list of {field, message}.
 * 5xx details never reach clients.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError, type FieldError } from '../../domain/errors.js';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Problem details body, as sent to clients. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance: string;
  request_id: string;
  errors?: FieldError[];
}

/** Names clients know from FastAPI: body, query, path, header. */
const CONTEXT_NAMES: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' };

interface AjvError {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
  /** Present because the validator runs with `verbose: true`. */
  schema?: unknown;
  parentSchema?: { description?: string };
}

function fieldName(context: string, e: AjvError): string {
  let path = e.instancePath
    .replace(/^\//, '')
    .split('/')
    .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'))
    .join('.');
  if (e.keyword === 'additionalProperties') {
    const extra = String(e.params.additionalProperty);
    path = path ? `${path}.${extra}` : extra;
  } else if (e.keyword === 'required') {
    const missing = String(e.params.missingProperty);
    path = path ? `${path}.${missing}` : missing;
  }
  return path ? `${context}.${path}` : context;
}

function messageOf(e: AjvError): string {
  switch (e.keyword) {
    case 'additionalProperties':
      return 'is not an allowed property';
    case 'required':
      return 'is required';
    case 'format':
      return formatMessage(String(e.params.format));
    case 'minProperties':
      return 'must contain at least one property';
    case 'enum':
      return `must be one of: ${(e.params.allowedValues as unknown[]).join(', ')}`;
    case 'pattern':
      return e.parentSchema?.description ? `must be ${e.parentSchema.description}` : 'is not in the expected form';
    default:
      return e.message ?? 'is not valid';
  }
}

/** The alternatives of an anyOf, described for a client: "one of: a, b" or "string or null". */
function describeAlternatives(branches: unknown): string | undefined {
  if (!Array.isArray(branches)) return undefined;
  const consts = branches.map((b) => (b as { const?: unknown }).const);
  if (consts.every((c) => c !== undefined)) return `must be one of: ${consts.join(', ')}`;
  const types = branches.map((b) => (b as { type?: unknown }).type);
  if (types.every((t) => typeof t === 'string')) return `must be ${[...new Set(types)].join(' or ')}`;
  return undefined;
}

/**
 * Turns Ajv errors into {field, message}. A failed anyOf (TypeBox unions: reading types,
 * nullable strings) would otherwise list one error per alternative; it is reported once,
 * either as the errors of the alternative whose type matched (a too-long string for a
 * nullable string) or as a single "must be one of ..." message.
 */
function fieldErrors(context: string, validation: AjvError[]): FieldError[] {
  const anyOfs = validation.filter((e) => e.keyword === 'anyOf');
  const underAnyOf = (e: AjvError, a: AjvError) => e !== a && e.schemaPath.startsWith(`${a.schemaPath}/`);
  const out: FieldError[] = [];
  for (const e of validation) {
    if (anyOfs.some((a) => underAnyOf(e, a))) continue;
    if (e.keyword !== 'anyOf') {
      out.push({ field: fieldName(context, e), message: messageOf(e) });
      continue;
    }
    const branchErrors = validation.filter((x) => underAnyOf(x, e));
    const byBranch = new Map<string, AjvError[]>();
    for (const x of branchErrors) {
      const branch = x.schemaPath.slice(e.schemaPath.length + 1).split('/')[0] ?? '';
      byBranch.set(branch, [...(byBranch.get(branch) ?? []), x]);
    }
    const typeMatched = [...byBranch.values()].find((errs) =>
      errs.every((x) => !(x.instancePath === e.instancePath && (x.keyword === 'type' || x.keyword === 'const'))),
    );
    if (typeMatched) {
      for (const x of typeMatched) out.push({ field: fieldName(context, x), message: messageOf(x) });
    } else {
      out.push({ field: fieldName(context, e), message: describeAlternatives(e.schema) ?? 'is not valid' });
    }
  }
  return out;
}

function formatMessage(format: string): string {
  switch (format) {
    case 'iso-timestamp':
      return 'must be an ISO 8601 date-time (for example 2025-05-24T08:00:00Z); without an offset it means UTC';
    case 'calendar-date':
      return 'must be a real calendar date in the form YYYY-MM-DD';
    case 'email':
      return 'must be a valid email address';
    default:
      return `must match format "${format}"`;
  }
}

/** Builds a problem body for this request. */
export function problemBody(
  request: FastifyRequest,
  status: number,
  code: string,
  detail: string,
  errors?: FieldError[],
): Problem {
  return {
    type: `https://patientpulse.dev/problems/${code.replaceAll('_', '-')}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    code,
    instance: request.url.split('?')[0] ?? request.url,
    request_id: String(request.id),
    ...(errors ? { errors } : {}),
  };
}

/** Sends a problem response. Usable from hooks that run before routing. */
export function sendProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  code: string,
  detail: string,
  errors?: FieldError[],
): FastifyReply {
  // Also set here: router errors (414, bad URL) are answered before any onSend hook runs.
  reply.header('x-request-id', String(request.id));
  return reply
    .code(status)
    .type('application/problem+json')
    .send(problemBody(request, status, code, detail, errors));
}

function mapFastifyError(err: FastifyError): { status: number; code: string; detail: string; errors?: FieldError[] } {
  if (err.validation) {
    const context = CONTEXT_NAMES[err.validationContext ?? 'body'] ?? 'body';
    return {
      status: 422,
      code: 'validation_failed',
      detail: 'The request is not valid',
      errors: fieldErrors(context, err.validation as AjvError[]),
    };
  }
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, code: 'malformed_body', detail: 'The request body is not valid JSON' };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, code: 'body_too_large', detail: 'The request body is larger than allowed' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, code: 'unsupported_media_type', detail: 'This content type is not accepted here' };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 400, code: 'bad_content_length', detail: 'Content-Length does not match the body' };
    case 'FST_ERR_HANDLER_TIMEOUT':
      return { status: 503, code: 'timeout', detail: 'The request took too long; retry later or narrow it' };
  }
  if (err.statusCode === 429) return { status: 429, code: 'rate_limited', detail: 'Too many requests; retry later' };
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    // Library messages can quote the request (URL, headers): never echo them.
    return { status: err.statusCode, code: 'bad_request', detail: 'The request could not be processed' };
  }
  return { status: 500, code: 'internal_error', detail: 'An unexpected error occurred; it has been logged' };
}

/**
 * Error codes that mean "the database is unreachable, restarting or refusing us", not a
 * bug: socket errors; SQLSTATE class 08 (connection exception); 57P01-57P05 (terminated by
 * an administrator or a crash, cannot connect now, database dropped, idle session timeout);
 * 3D000 (the database does not exist, for example renamed during a restore); 28000 and
 * 28P01 (credentials refused, for example after a rotation). Class 53 (insufficient
 * resources: too many connections, out of memory, disk full) is matched as a class.
 */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01',
  '57P02',
  '57P03',
  '57P04',
  '57P05',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '08007',
  '08P01',
  '3D000',
  '28000',
  '28P01',
]);

/**
 * 55000 (object_not_in_prerequisite_state) is a broad class; only its connection refusal
 * (`ALTER DATABASE ... ALLOW_CONNECTIONS false`) means unavailable.
 */
const NOT_ACCEPTING_CONNECTIONS = /is not currently accepting connections/i;

/** Messages node-postgres uses for a lost or unobtainable connection (these errors carry no code). */
const UNAVAILABLE_MESSAGE =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connection is closed|Client was closed and is not queryable|Query read timeout|Cannot use a pool after calling end|PGlite is closed/i;

/**
 * Errors from the database driver that mean "database unreachable", not a bug. Besides
 * the codes above, any error the server reports with severity FATAL or PANIC: the server
 * ends the session with it, which is how every refusal while connecting arrives.
 */
export function isDatabaseUnavailable(err: unknown, depth = 0): boolean {
  const e = err as { code?: string; message?: string; severity?: string; cause?: unknown; errors?: unknown };
  if (!e || typeof e !== 'object' || depth > 5) return false;
  if (typeof e.code === 'string') {
    if (UNAVAILABLE_CODES.has(e.code) || /^53[0-9A-Z]{3}$/.test(e.code)) return true;
    if (e.code === '55000' && typeof e.message === 'string' && NOT_ACCEPTING_CONNECTIONS.test(e.message)) return true;
    if (/^[0-9A-Z]{5}$/.test(e.code) && (e.severity === 'FATAL' || e.severity === 'PANIC')) return true;
  }
  if (typeof e.message === 'string' && UNAVAILABLE_MESSAGE.test(e.message)) return true;
  // Connecting to a host name with several addresses fails with an AggregateError.
  if (Array.isArray(e.errors) && e.errors.some((x) => isDatabaseUnavailable(x, depth + 1))) return true;
  return e.cause !== undefined && e.cause !== err ? isDatabaseUnavailable(e.cause, depth + 1) : false;
}

/** Statement timeout or lock timeout from PostgreSQL. */
function isQueryCanceled(err: unknown): boolean {
  const e = err as { code?: string; cause?: unknown };
  if (!e || typeof e !== 'object') return false;
  if (e.code === '57014' || e.code === '55P03') return true;
  return e.cause !== undefined && e.cause !== err ? isQueryCanceled(e.cause) : false;
}

/** Registered route patterns, so an unknown method on a known path can answer 405. */
class RouteTable {
  private readonly routes: { pattern: RegExp; methods: Set<string> }[] = [];

  add(url: string, methods: readonly string[]): void {
    const source = url
      .replace(/\/+$/, '')
      .replace(/:[A-Za-z0-9_]+(?:\([^)]*\))?|\*|[.+?^${}()|[\]\\]/g, (m) =>
        m === '*' ? '.*' : m.startsWith(':') ? '[^/]+' : `\\${m}`,
      );
    const pattern = new RegExp(`^${source || '/'}$`);
    const existing = this.routes.find((r) => r.pattern.source === pattern.source);
    const set = existing?.methods ?? new Set<string>();
    for (const m of methods) set.add(m.toUpperCase());
    if (set.has('GET')) set.add('HEAD');
    if (!existing) this.routes.push({ pattern, methods: set });
  }

  /** Methods allowed on `path`, or an empty list when no route has this path. */
  allowed(path: string): string[] {
    const p = path.length > 1 ? path.replace(/\/+$/, '') : path;
    const methods = new Set<string>();
    for (const r of this.routes) if (r.pattern.test(p)) for (const m of r.methods) methods.add(m);
    return [...methods].sort();
  }
}

async function problemPlugin(app: FastifyInstance): Promise<void> {
  const routes = new RouteTable();
  app.addHook('onRoute', (route) => {
    routes.add(route.url, Array.isArray(route.method) ? route.method : [route.method as string]);
  });

  // The API takes JSON bodies only. Without this, Fastify's built-in text/plain parser
  // hands routes a string that then fails validation with 422 instead of 415.
  app.removeContentTypeParser('text/plain');

  // Many clients send `Content-Type: application/json` on every request, body or not, and
  // FastAPI reads a zero-length body as no body. Fastify's parser refuses it (400), so it is
  // wrapped: empty means "no body" (routes without a body schema run, the others answer the
  // usual 422), anything else goes to the default parser, which keeps its prototype-poisoning
  // checks; the body limit is enforced before any parser runs.
  const jsonParser = app.getDefaultJsonParser(
    app.initialConfig.onProtoPoisoning ?? 'error',
    app.initialConfig.onConstructorPoisoning ?? 'error',
  );
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body: string, done) => {
    if (body.length === 0) {
      done(null, undefined);
      return;
    }
    jsonParser(request, body, done);
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof AppError) {
      return sendProblem(request, reply, err.status, err.code, err.message, err.errors);
    }
    if (isDatabaseUnavailable(err)) {
      request.log.warn({ err }, 'database unavailable');
      reply.header('retry-after', '2');
      return sendProblem(request, reply, 503, 'database_unavailable', 'The database is unavailable; retry shortly');
    }
    if (isQueryCanceled(err)) {
      request.log.warn({ err }, 'statement timed out');
      return sendProblem(request, reply, 503, 'timeout', 'The request took too long; retry later or narrow it');
    }
    const mapped = mapFastifyError(err);
    if (mapped.code === 'timeout') request.log.warn({ err }, 'request timed out');
    else if (mapped.status >= 500) request.log.error({ err }, 'unhandled error');
    const headers = (err as { headers?: Record<string, string> }).headers;
    if (mapped.status === 429 && headers) reply.headers(headers);
    return sendProblem(request, reply, mapped.status, mapped.code, mapped.detail, mapped.errors);
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? request.url;
    const allowed = routes.allowed(path);
    // The method itself being allowed means the router refused the path for another
    // reason (a parameter over maxParamLength): that is a 404, not a 405.
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      reply.header('allow', allowed.join(', '));
      return sendProblem(
        request,
        reply,
        405,
        'method_not_allowed',
        `${request.method} is not allowed on this path; allowed: ${allowed.join(', ')}`,
      );
    }
    return sendProblem(request, reply, 404, 'not_found', `No route matches ${request.method} on this path`);
  });
}

export default fp(problemPlugin, { name: 'problem' });
