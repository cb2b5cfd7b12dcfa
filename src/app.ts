/**
 * Builds the Fastify application from plugins. Used by the server process and by the
 * tests, so tests exercise exactly what production runs.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import type { DestinationStream, Logger } from 'pino';
import type { Config } from './config/config.js';
import type { Database } from './db/database.js';
import audit from './http/plugins/audit.js';
import auth from './http/plugins/auth.js';
import docs from './http/plugins/docs.js';
import drain, { RequestTracker } from './http/plugins/drain.js';
import handlerTimeout from './http/plugins/handler-timeout.js';
import inputGuard from './http/plugins/input-guard.js';
import problem from './http/plugins/problem.js';
import security from './http/plugins/security.js';
import { buildServerOptions, buildValidatorCompiler } from './http/server-options.js';
import type { AppDeps } from './http/types.js';
import { analyticsRoutes } from './modules/analytics/analytics.routes.js';
import { auditRoutes } from './modules/audit/audit.routes.js';
import { AuditWriter } from './modules/audit/audit.writer.js';
import { biometricsRoutes } from './modules/biometrics/biometrics.routes.js';
import { dashboardRoutes } from './modules/dashboard/dashboard.routes.js';
import { fhirRoutes } from './modules/fhir/fhir.routes.js';
import { healthRoutes, type Readiness } from './modules/health/health.routes.js';
import type { Limiter } from './modules/ingest/ingest.limiter.js';
import { bulkRoutes } from './modules/ingest/ingest.routes.js';
import { KeyCache } from './modules/keys/keys.cache.js';
import { keysRoutes } from './modules/keys/keys.routes.js';
import { meRoutes } from './modules/me/me.routes.js';
import { type AppMetrics, createAppMetrics } from './modules/metrics/metrics.registry.js';
import metrics from './modules/metrics/metrics.routes.js';
import { patientsRoutes } from './modules/patients/patients.routes.js';
import { seriesRoutes } from './modules/series/series.routes.js';
import { summaryRoutes } from './modules/summary/summary.routes.js';
import { APP_VERSION } from './version.js';

export interface BuildAppOptions {
  config: Config;
  database: Database;
  now?: () => Date;
  instanceId?: string;
  /** Shared with the server process, which flips it during startup and shutdown. */
  readiness?: Readiness;
  /** Log destination instead of stdout (tests capture the logs with it). */
  logStream?: DestinationStream;
  /** Metrics shared with the server process (background jobs record into them); created when absent. */
  metrics?: AppMetrics;
  /** Turns for bulk requests (tests watch its queue); made from BULK_CONCURRENCY when absent. */
  bulkLimiter?: Limiter;
  /** Requests still running, shared with the server process, which waits on it at shutdown. */
  requests?: RequestTracker;
}

/** Builds (but does not start) the HTTP application. */
export async function buildApp(opts: BuildAppOptions): Promise<FastifyInstance> {
  const app = Fastify(buildServerOptions(opts.config, opts.logStream ? { logStream: opts.logStream } : {}));
  app.setValidatorCompiler(buildValidatorCompiler());
  const deps: AppDeps = {
    config: opts.config,
    database: opts.database,
    now: opts.now ?? (() => new Date()),
    instanceId: opts.instanceId ?? randomUUID().slice(0, 8),
    log: app.log as unknown as Logger,
    metrics: opts.metrics ?? createAppMetrics({ database: opts.database, version: APP_VERSION, log: app.log }),
  };
  const readiness = opts.readiness ?? { started: true, draining: false };
  const db = opts.database.db;

  await app.register(handlerTimeout, { timeoutMs: opts.config.requestTimeoutMs });
  await app.register(problem);
  const requests = opts.requests ?? new RequestTracker();
  await app.register(drain, { readiness, tracker: requests, shutdownTimeoutMs: opts.config.shutdownTimeoutMs });
  await app.register(security, { corsOrigins: opts.config.corsOrigins });
  await app.register(docs, { version: APP_VERSION });
  const auditWriter = new AuditWriter(db);
  const keyCache = new KeyCache(opts.config.keyCacheTtlMs);
  app.addHook('onClose', () => auditWriter.drain());
  await app.register(audit, { writer: auditWriter, now: deps.now });
  await app.register(auth, {
    db,
    now: deps.now,
    keyCache,
    limits: {
      perKeyPerMinute: opts.config.rateLimitPerKeyPerMinute,
      perIpPerMinute: opts.config.rateLimitPerIpPerMinute,
      authFailuresPerIpPerMinute: opts.config.authFailuresPerIpPerMinute,
    },
  });
  await app.register(inputGuard);

  await app.register(metrics, { deps });
  await app.register(healthRoutes, { deps, readiness });
  await app.register(
    async (api) => {
      await api.register(patientsRoutes, { deps });
      await api.register(biometricsRoutes, { deps });
      await api.register(analyticsRoutes, { deps });
      await api.register(bulkRoutes, { deps, ...(opts.bulkLimiter ? { limiter: opts.bulkLimiter } : {}) });
      await api.register(keysRoutes, { deps, keyCache });
      await api.register(auditRoutes, { deps });
      await api.register(summaryRoutes, { deps });
      await api.register(seriesRoutes, { deps });
      await api.register(meRoutes, { deps });
    },
    { prefix: '/api/v1' },
  );
  // Its own context: the FHIR hooks (OperationOutcome errors, content negotiation) stay under /fhir.
  await app.register(fhirRoutes, { deps, prefix: '/fhir' });
  await app.register(dashboardRoutes);
  // The last onSend hook: when it runs, the audit hook before it has stored the request's
  // event, so a tracked request that ended leaves nothing to write.
  app.addHook('onSend', (request, _reply, payload, done) => {
    requests.end(request);
    done(null, payload);
  });
  return app;
}
