/**
 * Scaling with history length: the same history page (20 newest readings with the
 * total) for patients with 1,000 / 10,000 / 100,000 readings, in rotation. A flat
 * profile means the cost does not grow with history; the SQL timings of the page query,
 * of the total the application reads and of the count(*) it replaces show where time goes.
 */
import pg from 'pg';
import type { BenchContext } from '../lib/context.js';
import { getHttpFixture, type HttpFixture, hasRoute, httpFixtureKey } from '../lib/http-fixture.js';
import { alternate, median, type RequestPlan } from '../lib/http-load.js';
import { atLeast, measuredRow, skippedRow } from '../lib/rows.js';
import type { DbKind, ResultRow, Scenario } from '../lib/types.js';

const NAME = 'scaling';
const fmt = (n: number) => n.toLocaleString('en-US');

/**
 * Median milliseconds, straight on the database, of the history page, of the total the
 * application reads (the per-patient counter) and of the count(*) that counter replaces.
 */
async function sqlTimings(
  url: string,
  patientId: number,
  runs: number,
): Promise<{ pageMs: number; countMs: number; totalMs: number }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const page = `select "id", "patient_id", "type", "value", "unit", "timestamp" from "biometrics"
      where "biometrics"."patient_id" = $1 order by "biometrics"."timestamp" desc nulls last, "biometrics"."id" desc nulls last limit 20 offset 0`;
    const count = `select count(*) from "biometrics" where "biometrics"."patient_id" = $1`;
    const total = `select coalesce(sum("n"), 0) from "biometrics_counts" where "biometrics_counts"."patient_id" = $1`;
    const time = async (text: string) => {
      const xs: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t0 = process.hrtime.bigint();
        await c.query(text, [patientId]);
        xs.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      return median(xs);
    };
    await time(page); // warm the cache
    await time(count);
    await time(total);
    return { pageMs: await time(page), countMs: await time(count), totalMs: await time(total) };
  } finally {
    await c.end();
  }
}

async function run(ctx: BenchContext, db: DbKind): Promise<ResultRow[]> {
  const fx: HttpFixture = await getHttpFixture(ctx, db, true);
  if (!hasRoute(fx, 'GET /api/v1/biometrics')) {
    return [skippedRow({ scenario: NAME, db, metric: 'req/s', unit: 'req/s' }, 'GET /api/v1/biometrics')];
  }
  if (fx.histories.length === 0) throw new Error('the HTTP fixture was seeded without history patients');
  const planFor = (patientId: number): RequestPlan => ({
    method: 'GET',
    unitsPerRequest: 1,
    next: () => ({ path: `/api/v1/biometrics?patient_id=${patientId}&size=20` }),
  });
  const sides = fx.histories.map((h) => ({
    label: `${fmt(h.readings)}`,
    url: fx.app.url,
    plan: planFor(h.patientId),
    cpu: fx.cpu.app,
  }));
  const res = await alternate(sides, {
    connections: ctx.options.connections,
    duration: ctx.options.duration,
    rounds: ctx.options.rounds,
    warmupSeconds: ctx.sizes.warmupSeconds,
    warmupRequests: ctx.sizes.warmupRequests,
    warmupCapSeconds: ctx.sizes.warmupCapSeconds,
    apiKey: ctx.adminKey,
    log: (m) => ctx.log(m),
  });
  const first = fx.histories[0];
  const ref = first ? res[fmt(first.readings)]?.median : undefined;
  if (!first || !ref) throw new Error('no measurements');
  const rows: ResultRow[] = [];
  const label = `same query at ${fmt(first.readings)} readings`;
  for (const h of fx.histories) {
    const m = res[fmt(h.readings)]?.median;
    if (!m) continue;
    const isRef = h === first;
    rows.push(
      measuredRow(
        {
          scenario: NAME,
          db,
          metric: `history req/s @${fmt(h.readings)} readings`,
          unit: 'req/s',
          value: m.rps,
          baseline: isRef ? null : ref.rps,
          baselineLabel: label,
          target: isRef ? null : atLeast(0.75),
          ...(m.errors ? { note: `${m.errors} errors` } : {}),
        },
        ctx.quick,
      ),
      measuredRow(
        {
          scenario: NAME,
          db,
          metric: `history p50 @${fmt(h.readings)} readings`,
          unit: 'ms',
          value: m.p50,
          baseline: isRef ? null : ref.p50,
          baselineLabel: label,
        },
        ctx.quick,
      ),
    );
    if (m.cpuDbMs !== null) {
      rows.push(
        measuredRow(
          {
            scenario: NAME,
            db,
            metric: `database CPU/request @${fmt(h.readings)} readings`,
            unit: 'ms',
            value: m.cpuDbMs,
            baseline: isRef ? null : ref.cpuDbMs,
            baselineLabel: label,
          },
          ctx.quick,
        ),
      );
    }
  }
  if (fx.databaseUrl) {
    for (const h of fx.histories) {
      const t = await sqlTimings(fx.databaseUrl, h.patientId, ctx.quick ? 5 : 25);
      rows.push(
        measuredRow(
          {
            scenario: NAME,
            db,
            metric: `SQL total @${fmt(h.readings)} readings`,
            unit: 'ms',
            value: t.totalMs,
            baseline: t.pageMs,
            baselineLabel: 'the page query (LIMIT 20) on the same patient',
            note: `counter ${t.totalMs.toFixed(2)} ms, page ${t.pageMs.toFixed(2)} ms, count(*) it replaces ${t.countMs.toFixed(2)} ms (median, one connection)`,
          },
          ctx.quick,
        ),
      );
    }
  }
  return rows;
}

export const scalingScenario: Scenario = {
  name: NAME,
  group: 'http',
  title: 'History page cost by history length (1,000 / 10,000 / 100,000 readings per patient)',
  dbs: (selected) => (selected.includes('postgres') ? ['postgres'] : selected),
  fixtures: (db) => [httpFixtureKey(db)],
  run,
};
