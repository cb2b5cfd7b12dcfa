/**
 * Fastify options shared by the server process and the tests, so tests run exactly what
 * production runs: logger with PHI-free serializers, request ids, limits, validation.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyServerOptions } from 'fastify';
import type { LoggerOptions } from 'pino';
import type { Config } from '../config/config.js';
import { buildValidatorCompiler } from './validation.js';

const REQUEST_ID_RE = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** Path without the query string: query strings can carry patient filters or keys. */
export function pathOnly(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
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
      // Errors are logged by code and message only; messages are written to be PHI-free.
      // A failed ORM query's message lists the query parameters (names, emails, values):
      // such errors are logged by their driver cause instead.
      err(err: Error & { code?: string; statusCode?: number; cause?: unknown }) {
        let e = err;
        while (e.message?.startsWith('Failed query:') && e.cause instanceof Error) e = e.cause as typeof err;
        const wrapped = e.message?.startsWith('Failed query:');
        return {
          type: e.name,
          code: e.code,
          message: wrapped ? 'query failed' : e.message,
          statusCode: err.statusCode,
          stack: wrapped ? undefined : e.stack,
        };
      },
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
    // The drain plugin answers requests during shutdown (503 problem+json) and closes
    // connections itself; see src/http/plugins/drain.ts.
    return503OnClosing: false,
    forceCloseConnections: false,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
  };
  if (config.tlsCertFile && config.tlsKeyFile) {
    opts.https = { cert: readFileSync(config.tlsCertFile), key: readFileSync(config.tlsKeyFile) };
  }
  return opts;
}

export { buildValidatorCompiler };
