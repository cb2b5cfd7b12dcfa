/**
 * The HTTP fixture of one database: a seeded scratch database, the production build and
 * the bare baseline serving it. Shared by the http.* and scaling scenarios of that database.
 */
import { cpSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { BenchContext } from './context.js';
import { summarizeProfile } from './cpu-profile.js';
import { type CpuSampler, cpuSampler } from './cpu-usage.js';
import { createScratchDb } from './scratch-db.js';
import { cohort, insertPatients, insertReadings } from './seed.js';
import { declaredRoutes, type RunningServer, startAppServer, startBaselineServer } from './servers.js';
import { freshPgliteDir, openSql } from './sql.js';
import type { DbKind } from './types.js';

export interface HttpFixture {
  db: DbKind;
  app: RunningServer;
  baseline: RunningServer;
  /** Patients of the HTTP data set, with their e-mails (for CSV bodies). */
  patientIds: number[];
  patientEmails: string[];
  /** One patient per history length, for the scaling scenario. */
  histories: { readings: number; patientId: number }[];
  /** Routes the build declares ("POST /api/v1/biometrics/bulk"), or null when unknown. */
  routes: Set<string> | null;
  /** SQL access to the same database (PostgreSQL only; PGlite belongs to the server). */
  databaseUrl?: string;
  /** CPU samplers of each side (server process and, on PostgreSQL, its backends). */
  cpu: { app: CpuSampler; baseline: CpuSampler };
}

/** Newest reading of the seeded data; bench writes go to later timestamps, up to the clock. */
export const SEED_END = new Date('2026-01-31T20:00:00Z');

export function httpFixtureKey(db: DbKind): string {
  return `http:${db}`;
}

/** Whether the hasRoute check passes; unknown route tables count as present. */
export function hasRoute(fx: HttpFixture, route: string): boolean {
  return fx.routes === null || fx.routes.has(route);
}

export function getHttpFixture(ctx: BenchContext, db: DbKind, withHistories: boolean): Promise<HttpFixture> {
  return ctx.fixture(httpFixtureKey(db), () => createHttpFixture(ctx, db, withHistories));
}

async function createHttpFixture(
  ctx: BenchContext,
  db: DbKind,
  withHistories: boolean,
): Promise<{ value: HttpFixture; close(): Promise<void> }> {
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    while (closers.length) await closers.pop()?.();
  };
  try {
    const { sizes } = ctx;
    const t0 = Date.now();
    const since = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
    ctx.log(`[http ${db}] seeding ${sizes.httpPatients} patients x ${sizes.httpReadingsPerPatient[db]} readings`);
    let databaseUrl: string | undefined;
    let dataDir: string | undefined;
    if (db === 'postgres') {
      const scratch = await createScratchDb(ctx.options.adminUrl as string, 'http');
      if (!ctx.options.keep) closers.push(() => scratch.drop());
      databaseUrl = scratch.url;
    } else {
      dataDir = await freshPgliteDir(ctx, 'pglite-http-app');
    }
    const sql = await openSql(
      db === 'postgres'
        ? { kind: 'postgres', url: databaseUrl as string }
        : { kind: 'pglite', dataDir: dataDir as string },
    );
    let patientIds: number[];
    const patients = cohort(0, sizes.httpPatients);
    const histories: { readings: number; patientId: number }[] = [];
    try {
      patientIds = await insertPatients(sql, patients);
      await insertReadings(sql, {
        patientIds,
        perPatient: sizes.httpReadingsPerPatient[db],
        end: SEED_END,
        stepMinutes: 15,
        log: (m) => ctx.log(m),
      });
      if (withHistories) {
        const extra = await insertPatients(sql, cohort(sizes.httpPatients, sizes.scalingHistories.length));
        for (const [i, readings] of sizes.scalingHistories.entries()) {
          const patientId = extra[i] as number;
          ctx.log(`[http ${db}] history patient ${patientId}: ${readings.toLocaleString('en-US')} readings`);
          await insertReadings(sql, { patientIds: [patientId], perPatient: readings, end: SEED_END, stepMinutes: 5 });
          histories.push({ readings, patientId });
        }
      }
      await sql.exec('vacuum analyze');
    } finally {
      await sql.close();
    }

    let baselineDir: string | undefined;
    if (db === 'pglite') {
      // PGlite is single-process: the baseline serves an identical copy of the data.
      const copy = ctx.dir('pglite-http-baseline');
      rmSync(copy, { recursive: true, force: true });
      cpSync(dataDir as string, copy, { recursive: true });
      rmSync(path.join(copy, 'pgdata.lock'), { force: true });
      baselineDir = path.join(copy, 'pgdata');
    }

    const profileDir = ctx.options.profile ? ctx.dir(`profiles-${db}`) : undefined;
    ctx.log(`[http ${db}] seeded (${since()}); starting the production build and the baseline`);
    const [app, baseline] = await Promise.all([
      startAppServer({
        db,
        ...(databaseUrl ? { databaseUrl } : {}),
        ...(dataDir ? { dataDir } : {}),
        adminKey: ctx.adminKey,
        logFile: path.join(ctx.dir('logs'), `app-${db}.log`),
        ...(profileDir ? { profileDir } : {}),
      }),
      startBaselineServer({
        db,
        ...(databaseUrl ? { databaseUrl } : {}),
        ...(baselineDir ? { pgliteDir: baselineDir } : {}),
        logFile: path.join(ctx.dir('logs'), `baseline-${db}.log`),
      }),
    ]);
    closers.push(async () => {
      await app.stop();
      if (profileDir) {
        const summary = summarizeProfile(profileDir, `app server, ${db}`, app.readyMs);
        if (summary) ctx.profiles.push(summary);
      }
    });
    closers.push(() => baseline.stop());

    ctx.log(`[http ${db}] servers ready (${since()})`);
    const cpu = {
      app: await cpuSampler(app.pid, databaseUrl ? { url: databaseUrl, appNameLike: 'patientpulse-api-%' } : undefined),
      baseline: await cpuSampler(
        baseline.pid,
        databaseUrl ? { url: databaseUrl, appNameLike: 'patientpulse-bench-baseline' } : undefined,
      ),
    };
    closers.push(async () => {
      await cpu.app.close();
      await cpu.baseline.close();
    });
    // Authentication must work before any number means anything.
    const probe = await fetch(`${app.url}/api/v1/patients?size=1`, {
      headers: { authorization: `Bearer ${ctx.adminKey}` },
    });
    if (probe.status !== 200) throw new Error(`GET /api/v1/patients with the admin key answered ${probe.status}`);

    const value: HttpFixture = {
      db,
      app,
      baseline,
      patientIds,
      patientEmails: patients.map((p) => p.email.trim().toLowerCase()),
      histories,
      routes: await declaredRoutes(app.url),
      cpu,
      ...(databaseUrl ? { databaseUrl } : {}),
    };
    return { value, close };
  } catch (err) {
    await close();
    throw err;
  }
}
