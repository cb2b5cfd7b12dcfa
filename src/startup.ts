/**
 * Start-up and shutdown sequence of a server instance: migrations, bootstrap key,
 * listen, sample load, first analytics run, scheduler; and the reverse on stop.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import type { Config } from './config/config.js';
import type { Database } from './db/database.js';
import { withStartupLock } from './db/migrate.js';
import { openMigratedDatabase } from './db/open.js';
import { RequestTracker } from './http/plugins/drain.js';
import { waitForAnalyticsIdle } from './modules/analytics/analytics.jobs.js';
import { runStartupAnalytics, startAnalyticsScheduler } from './modules/analytics/analytics.scheduler.js';
import type { Readiness } from './modules/health/health.routes.js';
import { runStartupLoad } from './modules/ingest/ingest.startup.js';
import { ensureBootstrapAdmin } from './modules/keys/keys.service.js';
import { type AppMetrics, createAppMetrics } from './modules/metrics/metrics.registry.js';
import { APP_VERSION } from './version.js';

/**
 * After the drain, how long requests whose connections were closed still get to finish
 * (and store their audit events) before the database closes. Within the 5 s the serve
 * command allows past SHUTDOWN_TIMEOUT_MS.
 */
const HANDLER_GRACE_MS = 3_000;

/** Project root (same relative place from src/ and dist/): where the bundled sample lives. */
const PROJECT_ROOT = fileURLToPath(new URL('../', import.meta.url));

export interface RunningServer {
  app: FastifyInstance;
  log: FastifyInstance['log'];
  url: string;
  metrics: AppMetrics;
  /**
   * Graceful stop: readiness goes to "draining", the HTTP server drains (bounded by
   * SHUTDOWN_TIMEOUT_MS) while background work stops, then the database closes.
   * Idempotent: every call returns the same promise.
   */
  stop(): Promise<void>;
}

/** Background work owned by the process (the analytics scheduler): stopped on shutdown. */
export interface BackgroundTask {
  name: string;
  /** Stops scheduling and resolves once a running job has finished or rolled back. */
  stop(): Promise<void>;
}

/** Starts a server instance for `config` and resolves once it is ready. */
export async function startServer(config: Config): Promise<RunningServer> {
  const instanceId = `${process.pid}-${randomUUID().slice(0, 6)}`;
  const database = await openMigratedDatabase(config, `patientpulse-api-${instanceId}`);
  try {
    return await startOn(config, database, instanceId);
  } catch (err) {
    // Release the pool (or the data-directory lock) so a failed start exits promptly.
    await database.close().catch(() => {});
    throw err;
  }
}

async function startOn(config: Config, database: Database, instanceId: string): Promise<RunningServer> {
  const readiness: Readiness = { started: false, draining: false };
  const metrics = createAppMetrics({ database, version: APP_VERSION });
  const requests = new RequestTracker();
  const app = await buildApp({ config, database, instanceId, readiness, metrics, requests });
  const log = app.log;
  // Stopped in parallel with the HTTP drain (the analytics scheduler registers here).
  const background: BackgroundTask[] = [];

  // Serialized across instances starting at once (the sample load belongs in here too).
  const { generatedKey } = await withStartupLock(database, () =>
    ensureBootstrapAdmin({ db: database.db, log }, config.adminApiKey),
  );
  if (generatedKey) {
    // Shown once, on the terminal only: it is stored hashed and cannot be recovered.
    process.stdout.write(
      `\nNo admin API key existed, so one was generated. It is shown only this once:\n\n  ${generatedKey}\n\n` +
        'Keep it safe, or set ADMIN_API_KEY to choose your own.\n\n',
    );
  }

  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    // EADDRINUSE, EACCES, an unresolvable or foreign address: name the settings to change.
    throw new Error(`cannot listen on HOST=${config.host} PORT=${config.port}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const scheme = config.tlsCertFile ? 'https' : 'http';
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `${scheme}://${shownHost}:${port}`;

  if (config.etlOnStartup) {
    // Serialized like the bootstrap key: instances starting at once load the sample once.
    await withStartupLock(database, () =>
      runStartupLoad({ database, log, now: () => new Date(), metrics }, config, PROJECT_ROOT),
    );
  }

  // After the startup data load, so a first start already shows analytics.
  if (config.analyticsSchedulerEnabled) {
    const analyticsDeps = { db: database.jobsDb, log, now: () => new Date(), instanceId, metrics };
    await runStartupAnalytics(analyticsDeps, config.analyticsVersion);
    const scheduler = startAnalyticsScheduler(analyticsDeps, {
      schedule: config.analyticsCronSchedule,
      version: config.analyticsVersion,
    });
    background.push({ name: 'analytics scheduler', stop: () => scheduler.stop() });
  }

  readiness.started = true;
  log.info(
    {
      api: `${url}/api/v1`,
      docs: `${url}/docs`,
      metrics: `${url}/metrics`,
      database: database.kind,
      data: database.location,
    },
    `PatientPulse ready: API ${url}/api/v1, docs ${url}/docs, data in ${database.location}`,
  );

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      readiness.draining = true;
      const started = Date.now();
      log.info({ shutdownTimeoutMs: config.shutdownTimeoutMs }, 'draining: no new connections, finishing requests');
      const results = await Promise.allSettled([
        app.close(),
        ...background.map((task) => withTimeout(task.stop(), config.shutdownTimeoutMs, `${task.name} did not stop`)),
      ]);
      for (const r of results) {
        if (r.status === 'fulfilled') continue;
        // avvio names an overrun of a close hook after plugin start-up; say what it was.
        if ((r.reason as { code?: unknown })?.code === 'AVV_ERR_READY_TIMEOUT') {
          log.error('the HTTP server did not close within its bound');
        } else {
          log.error({ err: r.reason }, 'error while stopping');
        }
      }
      // A run in flight (scheduled or requested) commits or rolls back before the database closes.
      await waitForAnalyticsIdle(database.jobsDb);
      // Handlers whose connections the drain closed still run; their audit events need the database.
      if (requests.size > 0) {
        log.info({ running: requests.size, graceMs: HANDLER_GRACE_MS }, 'waiting for requests still running');
        const cutOff = await requests.settle(HANDLER_GRACE_MS);
        if (cutOff.length > 0) {
          log.warn(
            { requests: cutOff },
            'requests still running when the database closed: cut off, their audit events are not recorded',
          );
        }
      }
      await database.close();
      log.info({ ms: Date.now() - started }, 'stopped');
    })();
    return stopped;
  };
  return { app, log, url, metrics, stop };
}

function withTimeout(p: Promise<void>, ms: number, message: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
