/**
 * Several real server processes started at the same moment on one empty PostgreSQL
 * database: migrations are applied once (advisory lock), the bootstrap key is installed
 * once, and every instance is healthy, ready and serves the same data.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_FOLDER } from '../../src/db/migrate.js';
import { createPgTestDatabase } from '../helpers/database.js';
import { createPatientVia, E2E_TIMEOUT_MS, noticePgSkipped, RUN_PG_E2E } from '../helpers/e2e.js';
import { call, E2E_ADMIN_KEY, killServer, type ServerProcess, startServerProcess } from '../helpers/server-process.js';
import { waitFor } from '../helpers/traffic.js';

noticePgSkipped('test/e2e/cluster.test.ts');

const INSTANCES = 3;

describe.skipIf(!RUN_PG_E2E)('several instances on one PostgreSQL database', () => {
  let db: Awaited<ReturnType<typeof createPgTestDatabase>>;
  let client: pg.Client;
  let servers: ServerProcess[] = [];

  beforeAll(async () => {
    db = await createPgTestDatabase({ empty: true });
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });
  afterAll(async () => {
    for (const s of servers) killServer(s);
    await client?.end();
    await db?.drop();
  });

  it('start together on an empty database: migrations applied once, healthy, ready, one shared state', {
    timeout: E2E_TIMEOUT_MS,
  }, async () => {
    servers = await Promise.all(
      Array.from({ length: INSTANCES }, () => startServerProcess({ env: { DATABASE_URL: db.url } })),
    );

    const journal = JSON.parse(readFileSync(path.join(MIGRATIONS_FOLDER, 'meta/_journal.json'), 'utf8')) as {
      entries: Array<{ when: number }>;
    };
    const applied = await client.query<{ created_at: string }>(
      'select created_at from drizzle.__drizzle_migrations order by id',
    );
    expect(applied.rows.map((r) => Number(r.created_at))).toEqual(journal.entries.map((e) => e.when));

    // The bootstrap key from ADMIN_API_KEY is installed once, not once per instance.
    const keys = await client.query('select name, role, bootstrap, revoked_at from api_keys');
    expect(keys.rows).toEqual([
      { name: 'bootstrap admin (ADMIN_API_KEY)', role: 'admin', bootstrap: true, revoked_at: null },
    ]);

    const patientId = await createPatientVia(servers[0]?.url ?? '');
    for (const s of servers) {
      expect(await call(`${s.url}/healthz`)).toMatchObject({ status: 200, body: { status: 'ok' } });
      expect(await call(`${s.url}/readyz`)).toMatchObject({
        status: 200,
        body: { status: 'ready', checks: { startup: 'ok', shutdown: 'ok', database: 'ok' } },
      });
      expect(await call(`${s.url}/api/v1/patients/${patientId}`, { key: E2E_ADMIN_KEY })).toMatchObject({
        status: 200,
        body: { id: patientId },
      });
    }
    const names = await client.query<{ application_name: string }>(
      `select distinct application_name from pg_stat_activity
       where datname = $1 and application_name like 'patientpulse-api-%'`,
      [db.name],
    );
    expect(names.rows).toHaveLength(INSTANCES);

    const exits = await Promise.all(servers.map((s) => s.stop('SIGTERM')));
    expect(exits).toEqual(Array.from({ length: INSTANCES }, () => ({ code: 0, signal: null })));
  });

  // Every instance runs the scheduler; the advisory lock and the tick's time let exactly
  // one of them do each tick's work, however far apart their timers fire.
  it('run the scheduled analytics job once per tick across instances', { timeout: E2E_TIMEOUT_MS }, async () => {
    const started = await Promise.all(
      Array.from({ length: INSTANCES }, () =>
        startServerProcess({
          env: { DATABASE_URL: db.url, ANALYTICS_SCHEDULER: 'true', ANALYTICS_CRON_SCHEDULE: '*/2 * * * * *' },
        }),
      ),
    );
    servers.push(...started);
    const runs = async () =>
      (
        await client.query<{ tick: number; n: number; instances: number }>(
          `select floor(extract(epoch from started_at) / 2)::int8 as tick, count(*)::int as n,
                  count(distinct instance)::int as instances
           from analytics_runs where trigger = 'scheduled'
           group by 1 order by 1`,
        )
      ).rows;
    await waitFor(async () => (await runs()).length >= 3, 60_000, 'three scheduled ticks');
    for (const tick of await runs()) expect(tick).toMatchObject({ n: 1, instances: 1 });
    const exits = await Promise.all(started.map((s) => s.stop('SIGTERM')));
    expect(exits).toEqual(Array.from({ length: INSTANCES }, () => ({ code: 0, signal: null })));
  });
});
