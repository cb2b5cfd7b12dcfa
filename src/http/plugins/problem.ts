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
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

function fieldErrors(context: string, validation: AjvError[]): FieldError[] {
  return validation.map((e) => {
    let path = e.instancePath.replace(/^\//, '').replaceAll('/', '.');
    let message = e.message ?? 'is not valid';
    if (e.keyword === 'additionalProperties') {
      const extra = String(e.params.additionalProperty);
      path = path ? `${path}.${extra}` : extra;
      message = 'is not an allowed property';
    } else if (e.keyword === 'required') {
      const missing = String(e.params.missingProperty);
      path = path ? `${path}.${missing}` : missing;
      message = 'is required';
    } else if (e.keyword === 'format') {
      message = formatMessage(String(e.params.format));
    }
    return { field: path ? `${context}.${path}` : context, message };
  });
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

/** Errors from the database driver that mean "database unreachable", not a bug. */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string; cause?: unknown };
  if (!e || typeof e !== 'object') return false;
  const codes = new Set([
    'ECONNREFUSED',
    'ECONNRESET',
    'EPIPE',
    'ETIMEDOUT',
    '57P01',
    '57P02',
    '57P03',
    '08006',
    '08001',
    '08003',
    '08000',
    '53300',
  ]);
  if (e.code && codes.has(e.code)) return true;
  if (
    typeof e.message === 'string' &&
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connection is closed/i.test(
      e.message,
    )
  ) {
    return true;
  }
  return e.cause !== undefined && e.cause !== err ? isDatabaseUnavailable(e.cause) : false;
}

/** Statement timeout or lock timeout from PostgreSQL. */
function isQueryCanceled(err: unknown): boolean {
  const e = err as { code?: string; cause?: unknown };
  if (!e || typeof e !== 'object') return false;
  if (e.code === '57014' || e.code === '55P03') return true;
  return e.cause !== undefined && e.cause !== err ? isQueryCanceled(e.cause) : false;
}

async function problemPlugin(app: FastifyInstance): Promise<void> {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof AppError) {
      return sendProblem(request, reply, err.status, err.code, err.message, err.errors);
    }
    if (isDatabaseUnavailable(err)) {
      request.log.warn({ err: { type: err.name, code: err.code, message: err.message } }, 'database unavailable');
      reply.header('retry-after', '2');
      return sendProblem(request, reply, 503, 'database_unavailable', 'The database is unavailable; retry shortly');
    }
    if (isQueryCanceled(err)) {
      request.log.warn({ err: { type: err.name, code: err.code } }, 'statement timed out');
      return sendProblem(request, reply, 503, 'timeout', 'The request took too long; retry later or narrow it');
    }
    const mapped = mapFastifyError(err);
    if (mapped.code === 'timeout') request.log.warn({ err }, 'request timed out');
    else if (mapped.status >= 500) request.log.error({ err }, 'unhandled error');
    const headers = (err as { headers?: Record<string, string> }).headers;
    if (mapped.status === 429 && headers) reply.headers(headers);
    return sendProblem(request, reply, mapped.status, mapped.code, mapped.detail, mapped.errors);
  });

  // The path is in `instance`; the detail does not repeat what the client sent.
  app.setNotFoundHandler((request, reply) =>
    sendProblem(request, reply, 404, 'not_found', `No route matches ${request.method} on this path`),
  );
}

export default fp(problemPlugin, { name: 'problem' });
