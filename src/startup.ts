/**
 * Start-up and shutdown sequence of a server instance: migrations, bootstrap key,
 * listen, sample load, first analytics run, scheduler; and the reverse on stop.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import type { Config } from './config/config.js';
import { openMigratedDatabase } from './db/open.js';
import { waitForAnalyticsIdle } from './modules/analytics/analytics.jobs.js';
import {
  type AnalyticsScheduler,
  runStartupAnalytics,
  startAnalyticsScheduler,
} from './modules/analytics/analytics.scheduler.js';
import type { Readiness } from './modules/health/health.routes.js';
import { ensureBootstrapAdmin } from './modules/keys/keys.service.js';

export interface RunningServer {
  app: FastifyInstance;
  log: FastifyInstance['log'];
  url: string;
  stop(): Promise<void>;
}

/** Starts a server instance for `config` and resolves once it is ready. */
export async function startServer(config: Config): Promise<RunningServer> {
  const instanceId = `${process.pid}-${randomUUID().slice(0, 6)}`;
  const database = await openMigratedDatabase(config, `patientpulse-api-${instanceId}`);
  const readiness: Readiness = { started: false, draining: false };
  const app = await buildApp({ config, database, instanceId, readiness });
  const log = app.log;

  const { generatedKey } = await ensureBootstrapAdmin({ db: database.db, log }, config.adminApiKey);
  if (generatedKey) {
    // Shown once, on the terminal only: it is stored hashed and cannot be recovered.
    process.stdout.write(
      `\nNo admin API key existed, so one was generated. It is shown only this once:\n\n  ${generatedKey}\n\n` +
        'Keep it safe, or set ADMIN_API_KEY to choose your own.\n\n',
    );
  }

  await app.listen({ port: config.port, host: config.host });
  const scheme = config.tlsCertFile ? 'https' : 'http';
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `${scheme}://${shownHost}:${port}`;

  // After the startup data load, so a first start already shows analytics.
  let analyticsScheduler: AnalyticsScheduler | undefined;
  if (config.analyticsSchedulerEnabled) {
    const analyticsDeps = { db: database.db, log, now: () => new Date(), instanceId };
    await runStartupAnalytics(analyticsDeps, config.analyticsVersion);
    analyticsScheduler = startAnalyticsScheduler(analyticsDeps, {
      schedule: config.analyticsCronSchedule,
      version: config.analyticsVersion,
    });
  }

  readiness.started = true;
  log.info(
    { api: `${url}/api/v1`, docs: `${url}/docs`, database: database.kind, data: database.location },
    `PatientPulse ready: API ${url}/api/v1, docs ${url}/docs, data in ${database.location}`,
  );

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      readiness.draining = true;
      const timer = setTimeout(() => {
        log.warn('shutdown timeout reached; closing remaining connections');
        app.server.closeAllConnections?.();
      }, config.shutdownTimeoutMs);
      timer.unref();
      try {
        await analyticsScheduler?.stop();
        await app.close();
      } finally {
        clearTimeout(timer);
        // A run in flight (scheduled or requested) commits or rolls back before the database closes.
        await waitForAnalyticsIdle(database.db);
        await database.close();
      }
    })();
    return stopped;
  };
  return { app, log, url, stop };
}
