/**
 * Database outages under write traffic, against a real server process: backends killed
 * with pg_terminate_backend, a network partition and a database restart (the latter two
 * through a TCP proxy, so the shared PostgreSQL server is left alone). Requests fail fast
 * with 503, /readyz reports the outage, service resumes by itself, and every write that
 * got a 2xx is stored.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgTestDatabase } from '../helpers/database.js';
import { createPatientVia, E2E_TIMEOUT_MS, noticePgSkipped, RUN_PG_E2E } from '../helpers/e2e.js';
import {
  call,
  E2E_ADMIN_KEY,
  killServer,
  type Outcome,
  type ServerProcess,
  startServerProcess,
} from '../helpers/server-process.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { acknowledged, startWriters, type WriteResult, waitFor } from '../helpers/traffic.js';

noticePgSkipped('test/e2e/outage.test.ts');

const unavailable = (o: Outcome) => 'status' in o && o.status === 503;
const since = (results: WriteResult[], mark: number) => results.slice(mark);

describe.skipIf(!RUN_PG_E2E)('database outage (PostgreSQL)', () => {
  let db: Awaited<ReturnType<typeof createPgTestDatabase>>;
  let server: ServerProcess | undefined;
  let proxy: TcpProxy | undefined;
  let admin: pg.Client | undefined;

  beforeAll(async () => {
    db = await createPgTestDatabase();
  });
  afterAll(async () => {
    killServer(server);
    await proxy?.close();
    await admin?.end().catch(() => {});
    await db?.drop();
  });

  it('fails fast with 503, reports it on /readyz, recovers without a restart, keeps every acknowledged write', {
    timeout: E2E_TIMEOUT_MS,
  }, async () => {
    const target = new URL(process.env.TEST_DATABASE_URL ?? '');
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const viaProxy = new URL(db.url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    server = await startServerProcess({
      env: {
        DATABASE_URL: viaProxy.toString(),
        DB_CONNECT_TIMEOUT_MS: '1000',
        DB_STATEMENT_TIMEOUT_MS: '1000',
        DB_POOL_MAX: '5',
      },
    });
    const { url } = server;
    const pid = server.child.pid;
    const patient = await createPatientVia(url);
    admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await admin.connect();

    // The client gives up after 10 s: a request that hangs shows up as TIMEOUT.
    const w = startWriters({
      url,
      key: E2E_ADMIN_KEY,
      patientId: patient,
      workers: 4,
      baseMs: Date.UTC(2022, 0, 1),
      timeoutMs: 10_000,
    });
    await waitFor(() => acknowledged(w.results).length >= 20, 60_000, 'writes before the outage');

    // 1. Backends killed mid-traffic: requests in flight get 503, the pool reconnects.
    let mark = w.results.length;
    let killed = 0;
    await waitFor(
      async () => {
        const r = await admin?.query(
          `select pg_terminate_backend(pid) from pg_stat_activity
           where datname = $1 and application_name like 'patientpulse-api-%'`,
          [db.name],
        );
        killed += r?.rowCount ?? 0;
        return since(w.results, mark).some((r) => unavailable(r.outcome));
      },
      60_000,
      'a 503 after pg_terminate_backend',
    );
    expect(killed).toBeGreaterThan(0);
    mark = w.results.length;
    await waitFor(() => acknowledged(since(w.results, mark)).length >= 10, 60_000, 'recovery after the kill');

    // 2. Network partition: nothing answers and nothing is refused; the connect and query
    // timeouts still turn every request into a 503.
    proxy.stall();
    mark = w.results.length;
    await waitFor(
      () => since(w.results, mark).filter((r) => unavailable(r.outcome)).length >= 4,
      60_000,
      '503s during the partition',
    );
    await proxy.up();
    mark = w.results.length;
    await waitFor(() => acknowledged(since(w.results, mark)).length >= 10, 60_000, 'recovery after the partition');

    // 3. Database restart: open connections drop, new ones are refused.
    await proxy.down();
    mark = w.results.length;
    await waitFor(
      () => since(w.results, mark).filter((r) => unavailable(r.outcome)).length >= 8,
      60_000,
      '503s while the database is down',
    );
    const notReady = await call(`${url}/readyz`);
    expect(notReady).toMatchObject({
      status: 503,
      body: { status: 'not ready', checks: { startup: 'ok', shutdown: 'ok', database: 'unreachable' } },
    });
    expect(await call(`${url}/healthz`)).toMatchObject({ status: 200, body: { status: 'ok' } });
    const during = since(w.results, mark).find((r) => unavailable(r.outcome))?.outcome;
    expect(during).toMatchObject({ status: 503, body: { status: 503, code: 'database_unavailable' } });
    if (during && 'headers' in during) expect(during.headers.get('retry-after')).toBe('2');

    // 4. Back: service resumes by itself, in the same process.
    await proxy.up();
    mark = w.results.length;
    await waitFor(() => acknowledged(since(w.results, mark)).length >= 10, 60_000, 'recovery after the restart');
    expect(await call(`${url}/readyz`)).toMatchObject({
      status: 200,
      body: { status: 'ready', checks: { startup: 'ok', shutdown: 'ok', database: 'ok' } },
    });
    w.stop();
    await w.done;
    expect(server.child.pid).toBe(pid);
    expect(server.child.exitCode).toBeNull();

    // Only successes and 503s: no hang (TIMEOUT), no reset, no 500.
    const kinds = new Set(w.results.map((r) => ('error' in r.outcome ? r.outcome.error : r.outcome.status)));
    expect([...kinds].sort()).toEqual([200, 503]);
    for (const r of w.results) {
      if ('status' in r.outcome && r.outcome.status === 503) {
        expect(['database_unavailable', 'timeout']).toContain((r.outcome.body as { code: string }).code);
      }
    }

    // Every acknowledged write is stored with its value.
    const check = new pg.Client({ connectionString: db.url });
    await check.connect();
    try {
      const stored = new Map(
        (
          await check.query<{ ts: string; value: number }>(
            `select to_char(timestamp at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as ts, value
             from biometrics where patient_id = $1`,
            [patient],
          )
        ).rows.map((r) => [r.ts, r.value]),
      );
      const acked = acknowledged(w.results);
      for (const a of acked) expect(stored.get(a.timestamp), a.timestamp).toBe(a.value);
      // A write can be stored although its response was lost (a 503 after the commit), never the reverse.
      expect(stored.size).toBeGreaterThanOrEqual(acked.length);
    } finally {
      await check.end();
    }

    expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
