/**
 * HTTP scenarios: each endpoint of the production build against the bare baseline
 * (bench/baseline-server.ts), alternately in the same run, 32 connections, auth on.
 */
import type { BenchContext } from '../lib/context.js';
import { getHttpFixture, type HttpFixture, hasRoute, httpFixtureKey, SEED_END } from '../lib/http-fixture.js';
import { alternate, type LoadResult, type RequestPlan } from '../lib/http-load.js';
import { atLeast, measuredRow, skippedRow, valueAtMost } from '../lib/rows.js';
import type { DbKind, ResultRow, Scenario } from '../lib/types.js';

/**
 * Timestamps after the seeded data, unique across the whole run (so writes are inserts),
 * and never ahead of the clock: the API rejects readings more than 24 hours ahead.
 */
let tick = 0;
const WRITE_BASE_MS = SEED_END.getTime() + 3_600_000;
function nextTimestamp(): Date {
  tick += 1;
  const ms = WRITE_BASE_MS + tick * 1000;
  if (ms > Date.now()) throw new Error('bench writes ran past the clock; move SEED_END back');
  return new Date(ms);
}

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)] as T;
const TYPES = ['glucose', 'systolic', 'diastolic', 'weight'] as const;
const RANGES: Record<(typeof TYPES)[number], [number, number]> = {
  glucose: [70, 250],
  // Systolic always above diastolic: an inverted pair is rejected.
  systolic: [110, 160],
  diastolic: [60, 100],
  weight: [50, 120],
};
const valueFor = (t: (typeof TYPES)[number]) => {
  const [lo, hi] = RANGES[t];
  return Math.round((lo + Math.random() * (hi - lo)) * 10) / 10;
};

export interface EndpointSpec {
  name: string;
  title: string;
  route: string;
  /** Metric of the throughput row. */
  unit: 'req/s' | 'readings/s';
  /**
   * Most connections on the embedded database. PGlite has one connection and no fair
   * scheduling between requests: 32 bulk requests of 4,000 readings in flight make each
   * wait for all the others, and some wait longer than a round lasts.
   */
  embeddedConnections?: number;
  plan(ctx: BenchContext, fx: HttpFixture): RequestPlan;
}

const patients: EndpointSpec = {
  name: 'http.patients',
  title: 'GET /api/v1/patients (page of 20 with total)',
  route: 'GET /api/v1/patients',
  unit: 'req/s',
  plan: () => ({ method: 'GET', unitsPerRequest: 1, next: () => ({ path: '/api/v1/patients?page=1&size=20' }) }),
};

const history: EndpointSpec = {
  name: 'http.history',
  title: "GET /api/v1/biometrics (one patient's page of 20 with total)",
  route: 'GET /api/v1/biometrics',
  unit: 'req/s',
  plan: (_ctx, fx) => ({
    method: 'GET',
    unitsPerRequest: 1,
    next: () => ({ path: `/api/v1/biometrics?patient_id=${pick(fx.patientIds)}&size=20` }),
  }),
};

const upsert: EndpointSpec = {
  name: 'http.upsert',
  title: 'POST /api/v1/biometrics (90% inserts, 10% updates)',
  route: 'POST /api/v1/biometrics',
  unit: 'req/s',
  plan: (_ctx, fx) => {
    const recent: { patient_id: number; type: (typeof TYPES)[number]; timestamp: string }[] = [];
    return {
      method: 'POST',
      unitsPerRequest: 1,
      next: () => {
        let body: { patient_id: number; type: (typeof TYPES)[number]; timestamp: string; value: number };
        const again = recent.length > 100 && Math.random() < 0.1 ? pick(recent) : undefined;
        if (again) {
          body = { ...again, value: valueFor(again.type) };
        } else {
          const type = pick(TYPES);
          body = {
            patient_id: pick(fx.patientIds),
            type,
            timestamp: nextTimestamp().toISOString(),
            value: valueFor(type),
          };
          if (recent.length < 1000) recent.push(body);
          else recent[Math.floor(Math.random() * 1000)] = body;
        }
        return { path: '/api/v1/biometrics', body: JSON.stringify(body) };
      },
    };
  },
};

/** A CSV body in the reference format: every row a new timestamp with all four readings. */
function csvBody(emails: readonly string[], rows: number): string {
  const lines = ['patient_email,timestamp,glucose_mg_dL,bp_systolic,bp_diastolic,weight_kg'];
  for (let i = 0; i < rows; i++) {
    const ts = nextTimestamp().toISOString().slice(0, 19);
    lines.push(
      `${pick(emails)},${ts},${Math.round(valueFor('glucose'))},${Math.round(valueFor('systolic'))},` +
        `${Math.round(valueFor('diastolic'))},${valueFor('weight').toFixed(1)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

const bulk: EndpointSpec = {
  name: 'http.bulk',
  title: 'POST /api/v1/biometrics/bulk (text/csv, 4 readings per row)',
  route: 'POST /api/v1/biometrics/bulk',
  unit: 'readings/s',
  embeddedConnections: 4,
  plan: (ctx, fx) => ({
    method: 'POST',
    unitsPerRequest: ctx.sizes.bulkRowsPerRequest * 4,
    next: () => ({
      path: '/api/v1/biometrics/bulk',
      body: csvBody(fx.patientEmails, ctx.sizes.bulkRowsPerRequest),
      contentType: 'text/csv',
    }),
  }),
};

export const ENDPOINTS: EndpointSpec[] = [patients, history, upsert, bulk];

/** One request on each side before the load: both must answer 2xx. */
async function probe(url: string, plan: RequestPlan, apiKey: string, label: string): Promise<void> {
  const r = plan.next();
  const headers: Record<string, string> = { authorization: `Bearer ${apiKey}` };
  if (r.body !== undefined) headers['content-type'] = r.contentType ?? 'application/json';
  const res = await fetch(`${url}${r.path}`, { method: plan.method, headers, body: r.body ?? null });
  if (res.status < 200 || res.status > 299) {
    const text = (await res.text()).slice(0, 200);
    throw new Error(`${label} answered ${res.status} to ${plan.method} ${r.path.split('?')[0]}: ${text}`);
  }
  await res.arrayBuffer().catch(() => undefined);
}

function statusNote(r: LoadResult): string | undefined {
  const bad = Object.entries(r.statuses).filter(([code]) => !code.startsWith('2'));
  return bad.length ? `statuses: ${bad.map(([c, n]) => `${c} x${n}`).join(', ')}` : undefined;
}

export function endpointRows(
  ctx: BenchContext,
  spec: EndpointSpec,
  db: DbKind,
  app: LoadResult,
  base: LoadResult,
  baselineLabel: string,
): ResultRow[] {
  const q = ctx.quick;
  const common = { scenario: spec.name, db, baselineLabel };
  const rows = [
    measuredRow(
      {
        ...common,
        metric: spec.unit,
        unit: spec.unit,
        value: spec.unit === 'req/s' ? app.rps : app.ups,
        baseline: spec.unit === 'req/s' ? base.rps : base.ups,
        target: db === 'postgres' ? atLeast(0.75) : null,
      },
      q,
    ),
    measuredRow({ ...common, metric: 'p50 latency', unit: 'ms', value: app.p50, baseline: base.p50 }, q),
    measuredRow({ ...common, metric: 'p99 latency', unit: 'ms', value: app.p99, baseline: base.p99 }, q),
  ];
  const total = (r: LoadResult) => (r.cpuServerMs ?? 0) + (r.cpuDbMs ?? 0);
  if (app.cpuServerMs !== null && base.cpuServerMs !== null) {
    rows.push(
      measuredRow(
        { ...common, metric: 'CPU/request, server', unit: 'ms', value: app.cpuServerMs, baseline: base.cpuServerMs },
        q,
      ),
    );
    if (app.cpuDbMs !== null && base.cpuDbMs !== null) {
      rows.push(
        measuredRow(
          { ...common, metric: 'CPU/request, database', unit: 'ms', value: app.cpuDbMs, baseline: base.cpuDbMs },
          q,
        ),
      );
    }
    const ratio = total(app) > 0 ? total(base) / total(app) : null;
    rows.push(
      measuredRow(
        {
          ...common,
          metric: 'CPU/request, total',
          unit: 'ms',
          value: total(app),
          baseline: total(base),
          ...(ratio !== null
            ? { note: `baseline/app = ${ratio.toFixed(2)}: the req/s ratio to expect when CPU is the limit` }
            : {}),
        },
        q,
      ),
    );
  }
  const note = statusNote(app) ?? statusNote(base);
  // Errors are a correctness matter, judged even in quick mode.
  rows.push(
    measuredRow(
      {
        ...common,
        metric: 'errors',
        unit: '',
        value: app.errors,
        baseline: base.errors,
        target: valueAtMost(0),
        ...(note ? { note } : {}),
      },
      false,
    ),
  );
  if (db === 'pglite') {
    const pg = ctx.find(spec.name, 'postgres', spec.unit);
    if (pg?.value != null) {
      rows.push(
        measuredRow(
          {
            scenario: spec.name,
            db,
            metric: `${spec.unit} vs PostgreSQL`,
            unit: spec.unit,
            value: rows[0]?.value ?? null,
            baseline: pg.value,
            baselineLabel: 'same endpoint on PostgreSQL',
          },
          q,
        ),
      );
    }
  }
  return rows;
}

function makeScenario(spec: EndpointSpec): Scenario {
  return {
    name: spec.name,
    group: 'http',
    title: spec.title,
    // The smoke run covers the embedded path with one endpoint: the others share its code.
    dbs: (selected, quick) => (quick && spec !== history ? selected.filter((d) => d !== 'pglite') : selected),
    fixtures: (db) => [httpFixtureKey(db)],
    async run(ctx, db) {
      const fx = await getHttpFixture(ctx, db, ctx.plannedScenario('scaling', db));
      if (!hasRoute(fx, spec.route)) {
        return [skippedRow({ scenario: spec.name, db, metric: spec.unit, unit: spec.unit }, spec.route)];
      }
      const appPlan = spec.plan(ctx, fx);
      const basePlan = spec.plan(ctx, fx);
      const connections =
        db === 'pglite' && spec.embeddedConnections
          ? Math.min(ctx.options.connections, spec.embeddedConnections)
          : ctx.options.connections;
      await probe(fx.app.url, appPlan, ctx.adminKey, 'the application');
      await probe(fx.baseline.url, basePlan, ctx.adminKey, 'the baseline');
      const res = await alternate(
        [
          { label: 'app', url: fx.app.url, plan: appPlan, cpu: fx.cpu.app },
          { label: 'baseline', url: fx.baseline.url, plan: basePlan, cpu: fx.cpu.baseline },
        ],
        {
          connections,
          duration: ctx.options.duration,
          rounds: ctx.options.rounds,
          warmupSeconds: ctx.sizes.warmupSeconds,
          warmupRequests: ctx.sizes.warmupRequests,
          warmupCapSeconds: ctx.sizes.warmupCapSeconds,
          apiKey: ctx.adminKey,
          log: (m) => ctx.log(m),
        },
      );
      const app = res.app?.median;
      const base = res.baseline?.median;
      if (!app || !base) throw new Error('no measurements');
      const label =
        (db === 'postgres' ? 'node:http + pg pool' : 'node:http + PGlite') +
        (connections !== ctx.options.connections ? `, both at ${connections} connections` : '');
      return endpointRows(ctx, spec, db, app, base, label);
    },
  };
}

export const httpScenarios: Scenario[] = ENDPOINTS.map(makeScenario);
