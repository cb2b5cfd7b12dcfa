/**
 * Fastify options shared by the server process and the tests, so tests run exactly what
 * production runs: logger with PHI-free serializers, request ids, limits, validation.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyServerOptions } from 'fastify';
import type { LoggerOptions } from 'pino';
import type { Config } from '../config/config.js';
import { sendProblem } from './plugins/problem.js';
import { buildValidatorCompiler } from './validation.js';

const REQUEST_ID_RE = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** Path without the query string: query strings can carry patient filters or keys. */
export function pathOnly(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

type LoggedError = Error & {
  code?: string;
  statusCode?: number;
  /** Set by Drizzle's DrizzleQueryError, whose message also lists the bound values. */
  query?: string;
  params?: unknown;
  cause?: unknown;
};

/** Drops the bound values Drizzle appends to failed-query messages ("params: Ana,1980-05-12,..."). */
function withoutParams(text: string | undefined): string | undefined {
  return text?.replace(/\nparams: [\s\S]*?(?=\n\s+at |$)/, '\nparams: [redacted]');
}

/**
 * A database error for the log: the SQLSTATE and, except for data exceptions (class 22,
 * whose messages quote the offending value), the server's message.
 */
function databaseCause(cause: unknown): Record<string, unknown> | undefined {
  if (!cause || typeof cause !== 'object') return undefined;
  const c = cause as { name?: string; code?: unknown; message?: string; constraint?: string; table?: string };
  const code = typeof c.code === 'string' ? c.code : undefined;
  return {
    type: c.name,
    code,
    message: code?.startsWith('22') ? '[redacted: data exception]' : withoutParams(c.message),
    constraint: c.constraint,
    table: c.table,
  };
}

/**
 * Error serializer: code, message and stack, never the values of a failed query (they
 * are patient data). Messages written by this code base are PHI-free by convention.
 */
export function serializeError(err: LoggedError): Record<string, unknown> {
  const isQueryError = typeof err.query === 'string' && 'params' in err;
  const isDatabaseError = typeof err.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code);
  return {
    type: isQueryError && err.name === 'Error' ? 'DrizzleQueryError' : err.name,
    code: err.code,
    message: isDatabaseError && err.code?.startsWith('22') ? '[redacted: data exception]' : withoutParams(err.message),
    statusCode: err.statusCode,
    stack: isDatabaseError && err.code?.startsWith('22') ? undefined : withoutParams(err.stack),
    ...(isQueryError ? { query: err.query, cause: databaseCause(err.cause) } : {}),
  };
}

/** Logger options: JSON lines, no bodies, no query strings, credentials redacted. */
export function buildLoggerOptions(config: Pick<Config, 'logLevel' | 'logPretty'>): LoggerOptions {
  return {
    level: config.logLevel,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers["x-api-key"]',
        'req.headers.cookie',
        'headers.authorization',
        'headers["x-api-key"]',
      ],
      censor: '[redacted]',
    },
    serializers: {
      req(req: { method: string; url: string; routeOptions?: { url?: string }; ip?: string; id?: string }) {
        return { method: req.method, path: pathOnly(req.url), route: req.routeOptions?.url, remoteAddress: req.ip };
      },
      res(res: { statusCode: number }) {
        return { statusCode: res.statusCode };
      },
      err: serializeError,
    },
    ...(config.logPretty
      ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } }
      : {}),
  };
}

/** Fastify server options for a given configuration. */
export function buildServerOptions(config: Config): FastifyServerOptions & { https?: { cert: Buffer; key: Buffer } } {
  const opts: FastifyServerOptions & { https?: { cert: Buffer; key: Buffer } } = {
    logger: buildLoggerOptions(config),
    requestIdHeader: false,
    genReqId(req) {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID_RE.test(incoming) ? incoming : randomUUID();
    },
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustProxy,
    connectionTimeout: config.requestTimeoutMs + 5_000,
    requestTimeout: config.requestTimeoutMs,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    // Errors the router raises before any plugin runs: the same problem shape as the rest.
    frameworkErrors(error, request, reply) {
      if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
        return sendProblem(request, reply, 414, 'path_too_long', 'A path segment is longer than 200 characters');
      }
      if (error.code === 'FST_ERR_BAD_URL') {
        return sendProblem(request, reply, 400, 'bad_url', 'The URL is not valid (malformed percent-encoding)');
      }
      request.log.error({ err: error }, 'router error');
      return sendProblem(request, reply, 500, 'internal_error', 'An unexpected error occurred; it has been logged');
    },
  };
  if (config.tlsCertFile && config.tlsKeyFile) {
    opts.https = { cert: readFileSync(config.tlsCertFile), key: readFileSync(config.tlsKeyFile) };
  }
  return opts;
}

export { buildValidatorCompiler };
