/**
 * Fastify options shared by the server process and the tests, so tests run exactly what
 * production runs: logger with PHI-free serializers, request ids, limits, validation.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyServerOptions } from 'fastify';
import type { DestinationStream, LoggerOptions } from 'pino';
import type { Config } from '../config/config.js';
import { AppError } from '../domain/errors.js';
import { sendProblem } from './plugins/problem.js';
import { buildValidatorCompiler } from './validation.js';

const REQUEST_ID_RE = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** Path without the query string: query strings can carry patient filters or keys. */
export function pathOnly(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/**
 * The path of a request as logged: the matched route pattern with only numeric parameter
 * values filled in, so names, emails or anything else a client puts in a path never reach
 * the logs. Unmatched requests (404) log no path at all.
 */
export function safeLogPath(
  pattern: string | undefined,
  params: Record<string, unknown> | undefined | null,
): string | null {
  if (!pattern) return null;
  return pattern.replace(/:([A-Za-z0-9_]+)/g, (m, name: string) => {
    const v = params?.[name];
    return (typeof v === 'string' || typeof v === 'number') && /^\d{1,20}$/.test(String(v)) ? String(v) : m;
  });
}

const SQLSTATE_RE = /^[0-9A-Z]{5}$/;

interface LoggableError {
  name?: string;
  code?: unknown;
  statusCode?: unknown;
  message?: unknown;
  stack?: unknown;
  cause?: unknown;
  constraint?: unknown;
  table?: unknown;
  column?: unknown;
}

function sqlStateOf(err: LoggableError | undefined, depth = 0): string | undefined {
  if (!err || typeof err !== 'object' || depth > 3) return undefined;
  if (typeof err.code === 'string' && SQLSTATE_RE.test(err.code)) return err.code;
  return sqlStateOf(err.cause as LoggableError | undefined, depth + 1);
}

/**
 * A log-safe message. Library messages can carry request data: Drizzle puts query
 * parameters in its messages, PostgreSQL quotes offending values, JSON syntax errors quote
 * the body and some Fastify errors quote the URL. Those are reduced to codes.
 */
function safeMessage(err: LoggableError): string {
  const message = typeof err.message === 'string' ? err.message : '';
  const code = typeof err.code === 'string' ? err.code : undefined;
  if (err instanceof AppError) return message; // written PHI-free by design
  if (code?.startsWith('FST_')) return code;
  if (message.startsWith('Failed query') || sqlStateOf(err)) {
    return `database error ${sqlStateOf(err) ?? ''}`.trim();
  }
  if (err.name === 'SyntaxError') return 'syntax error';
  // Anything else is cut at the first quote or colon-delimited detail, where values tend to start.
  return message.split(/["'`]|params:/)[0]?.slice(0, 200) ?? '';
}

function stackFrames(stack: unknown): string | undefined {
  if (typeof stack !== 'string') return undefined;
  // The first lines of a stack repeat the message; keep only the frames.
  const frames = stack.split('\n').filter((l) => /^\s+at /.test(l));
  return frames.length ? frames.join('\n') : undefined;
}

/** Serializes an error for the logs: type, codes, a safe message and stack frames only. */
export function serializeError(err: LoggableError): Record<string, unknown> {
  if (!err || typeof err !== 'object') return { message: 'non-error thrown' };
  const sqlState = sqlStateOf(err);
  const cause = err.cause as LoggableError | undefined;
  const db = (cause && typeof cause === 'object' ? cause : err) as LoggableError;
  return {
    type: err.name,
    code: typeof err.code === 'string' || typeof err.code === 'number' ? err.code : undefined,
    statusCode: typeof err.statusCode === 'number' ? err.statusCode : undefined,
    message: safeMessage(err),
    ...(sqlState
      ? {
          sqlState,
          constraint: typeof db.constraint === 'string' ? db.constraint : undefined,
          table: typeof db.table === 'string' ? db.table : undefined,
          column: typeof db.column === 'string' ? db.column : undefined,
        }
      : {}),
    ...(cause && typeof cause === 'object' && !sqlState
      ? { cause: { type: cause.name, code: typeof cause.code === 'string' ? cause.code : undefined } }
      : {}),
    stack: stackFrames(err.stack),
  };
}

interface LoggableRequest {
  method: string;
  routeOptions?: { url?: string };
  params?: Record<string, unknown> | null;
  ip?: string;
}

/** Logger options: JSON lines, no bodies, no query strings, no free-text paths, credentials redacted. */
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
      req(req: LoggableRequest) {
        const route = req.routeOptions?.url;
        return {
          method: req.method,
          route: route ?? null,
          path: safeLogPath(route, req.params),
          remoteAddress: req.ip,
        };
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

/** Extra, test-only knobs for {@link buildServerOptions}. */
export interface ServerOptionsExtras {
  /** Where log lines go instead of stdout (tests capture logs with it). */
  logStream?: DestinationStream;
}

/** Fastify server options for a given configuration. */
export function buildServerOptions(
  config: Config,
  extras: ServerOptionsExtras = {},
): FastifyServerOptions & { https?: { cert: Buffer; key: Buffer } } {
  const loggerOptions = buildLoggerOptions(config);
  if (extras.logStream) delete loggerOptions.transport;
  // JSON lines go to process.stdout, which Node writes synchronously on Linux (files, pipes,
  // terminals). pino's default destination writes from a worker thread, and a line logged
  // while the process exits (the "process exit" line, the watchdog's last error before
  // process.exit) could be lost.
  const stream = extras.logStream ?? (loggerOptions.transport ? undefined : process.stdout);
  const opts: FastifyServerOptions & { https?: { cert: Buffer; key: Buffer } } = {
    logger: stream ? { ...loggerOptions, stream } : loggerOptions,
    requestIdHeader: false,
    genReqId(req) {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID_RE.test(incoming) ? incoming : randomUUID();
    },
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustProxy,
    connectionTimeout: config.requestTimeoutMs + 5_000,
    requestTimeout: config.requestTimeoutMs,
    // Handlers and hooks that run longer are answered 503 by the handler-timeout plugin
    // (not Fastify's handlerTimeout, which costs every request an AbortController).
    // The drain plugin answers requests during shutdown (503 problem+json) and closes
    // connections itself; see src/http/plugins/drain.ts.
    return503OnClosing: false,
    forceCloseConnections: false,
    // avvio bounds close hooks by the plugin timeout too, and reports an overrun as
    // "Plugin did not start in time". The drain's preClose hook waits up to the shutdown
    // timeout by design, so the bound must be longer than that (10 s at least, Fastify's default).
    pluginTimeout: Math.max(10_000, config.shutdownTimeoutMs + 10_000),
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
