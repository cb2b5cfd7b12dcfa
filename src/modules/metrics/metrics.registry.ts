/**
 * The application's Prometheus metrics. Each app gets its own Registry (no global
 * default registry), so several apps in one process (tests) never collide, and code
 * that records something receives the metrics object explicitly through its deps.
 */
import type { Logger } from 'pino';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Database } from '../../db/database.js';
import { countBufferRows } from './metrics.repository.js';

/** Outcome label of an analytics run. */
export type AnalyticsRunStatus = 'succeeded' | 'failed' | 'skipped';

/** Metrics other parts of the application record into. */
export interface AppMetrics {
  registry: Registry;
  httpRequestDuration: Histogram<'method' | 'route' | 'status_code'>;
  httpRequestsTotal: Counter<'method' | 'route' | 'status_code'>;
  /** Readings accepted through any door (API, bulk, loader): `readingsIngested.inc(n)`. */
  readingsIngested: Counter;
  /** Rows the loader rejected as invalid: `loaderRejectedRows.inc(n)`. */
  loaderRejectedRows: Counter;
  analyticsRuns: Counter<'version' | 'status'>;
  analyticsRunDuration: Histogram<'version' | 'status'>;
  /** Records one finished analytics run (count and duration, by engine version and outcome). */
  observeAnalyticsRun(run: { version: 1 | 2; status: AnalyticsRunStatus; durationSeconds: number }): void;
}

export interface CreateMetricsOptions {
  database: Database;
  version: string;
  log?: Pick<Logger, 'debug'>;
}

/** HTTP latency buckets (seconds): a few ms for reads up to the request timeout range. */
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Analytics run buckets (seconds): an incremental run takes well under a second, a full recompute minutes. */
const ANALYTICS_BUCKETS = [0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600];

/** Creates the metrics of one application instance. */
export function createAppMetrics(opts: CreateMetricsOptions): AppMetrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });

  new Gauge({
    name: 'patientpulse_build_info',
    help: 'Always 1; labels carry the version and the database engine',
    labelNames: ['version', 'database'],
    registers,
  }).set({ version: opts.version, database: opts.database.kind }, 1);

  const httpRequestDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration in seconds, by method, route template and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: HTTP_BUCKETS,
    registers,
  });
  const httpRequestsTotal = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route template and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers,
  });
  const readingsIngested = new Counter({
    name: 'patientpulse_readings_ingested_total',
    help: 'Biometric readings accepted and stored (inserted, updated or already identical)',
    registers,
  });
  const loaderRejectedRows = new Counter({
    name: 'patientpulse_loader_rejected_rows_total',
    help: 'Rows the bulk loader rejected as invalid',
    registers,
  });
  const analyticsRuns = new Counter({
    name: 'patientpulse_analytics_runs_total',
    help: 'Analytics job runs in this process, by engine version and outcome',
    labelNames: ['version', 'status'] as const,
    registers,
  });
  const analyticsRunDuration = new Histogram({
    name: 'patientpulse_analytics_run_duration_seconds',
    help: 'Analytics job run duration in seconds, by engine version and outcome',
    labelNames: ['version', 'status'] as const,
    buckets: ANALYTICS_BUCKETS,
    registers,
  });

  const { database, log } = opts;
  new Gauge({
    name: 'patientpulse_analytics_buffer_rows',
    help: 'Rows waiting in the biometrics_hourly change buffer, counted up to 1e6 (NaN when the database is unreachable)',
    registers,
    async collect() {
      try {
        this.set(await countBufferRows(database.db));
      } catch (err) {
        // A scrape during a database outage still returns the process metrics.
        log?.debug({ err }, 'buffer depth not collected');
        this.set(Number.NaN);
      }
    },
  });

  if (database.kind === 'postgres') {
    const pool = (pick: 'total' | 'idle' | 'waiting') =>
      function (this: Gauge) {
        const stats = database.poolStats();
        if (stats) this.set(stats[pick]);
      };
    new Gauge({
      name: 'patientpulse_db_pool_connections',
      help: 'Open connections in the PostgreSQL pool',
      registers,
      collect: pool('total'),
    });
    new Gauge({
      name: 'patientpulse_db_pool_idle_connections',
      help: 'Idle connections in the PostgreSQL pool',
      registers,
      collect: pool('idle'),
    });
    new Gauge({
      name: 'patientpulse_db_pool_waiting_queries',
      help: 'Queries waiting for a free pool connection',
      registers,
      collect: pool('waiting'),
    });
  }

  return {
    registry,
    httpRequestDuration,
    httpRequestsTotal,
    readingsIngested,
    loaderRejectedRows,
    analyticsRuns,
    analyticsRunDuration,
    observeAnalyticsRun({ version, status, durationSeconds }) {
      const labels = { version: String(version), status };
      analyticsRuns.inc(labels);
      analyticsRunDuration.observe(labels, durationSeconds);
    },
  };
}
