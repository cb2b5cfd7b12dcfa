/**
 * Graceful shutdown of a real server process on PostgreSQL under concurrent writes:
 * SIGTERM mid-traffic; an in-flight request finishes; requests on open connections get
 * 503, new connections are refused, nobody sees a reset; every acknowledged write is
 * stored; exit code 0.
 */
import http from 'node:http';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgTestDatabase } from '../helpers/database.js';
import {
  createPatientVia,
  E2E_TIMEOUT_MS,
  expectRequestIdsOnRequestLogs,
  noticePgSkipped,
  RUN_PG_E2E,
  rawRequest,
} from '../helpers/e2e.js';
import { call, E2E_ADMIN_KEY, killServer, type ServerProcess, startServerProcess } from '../helpers/server-process.js';
import { acknowledged, startWriters, waitFor } from '../helpers/traffic.js';

noticePgSkipped('test/e2e/shutdown.test.ts');

describe.skipIf(!RUN_PG_E2E)('graceful shutdown under load (PostgreSQL)', () => {
  let db: Awaited<ReturnType<typeof createPgTestDatabase>>;
  let server: ServerProcess | undefined;
  let locker: pg.Client | undefined;

  beforeAll(async () => {
    db = await createPgTestDatabase();
  });
  afterAll(async () => {
    killServer(server);
    await locker?.end().catch(() => {});
    await db?.drop();
  });

  it('finishes in-flight work, answers 503 or refuses afterwards, loses no acknowledged write, exits 0', {
    timeout: E2E_TIMEOUT_MS,
  }, async () => {
    server = await startServerProcess({ env: { DATABASE_URL: db.url, SHUTDOWN_TIMEOUT_MS: '20000' } });
    const { url } = server;
    const held = await createPatientVia(url);
    const busy = await createPatientVia(url);

    // An in-flight request that cannot finish until the test says so: its insert waits
    // for a row lock on its patient (the foreign key check) that the test holds.
    locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    await locker.query('begin');
    await locker.query('select 1 from patients where id = $1 for update', [held]);
    const inFlight = call(`${url}/api/v1/biometrics`, {
      method: 'POST',
      key: E2E_ADMIN_KEY,
      json: { patient_id: held, timestamp: new Date().toISOString(), type: 'weight', value: 70 },
    });
    await waitFor(
      async () => {
        const r = await locker?.query(
          "select 1 from pg_stat_activity where wait_event_type = 'Lock' and application_name like 'patientpulse-api-%'",
        );
        return (r?.rowCount ?? 0) > 0;
      },
      10_000,
      'the in-flight request to wait on the lock',
    );

    // A keep-alive connection opened before the shutdown, idle when it starts.
    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect(await rawRequest(`${url}/healthz`, { agent: keepAlive })).toMatchObject({ status: 200 });

    const writers = startWriters({
      url,
      key: E2E_ADMIN_KEY,
      patientId: busy,
      workers: 6,
      baseMs: Date.UTC(2021, 0, 1),
      until: (o) => 'error' in o,
    });
    await waitFor(() => acknowledged(writers.results).length >= 40, 60_000, '40 acknowledged writes');

    server.child.kill('SIGTERM');
    await server.waitForLog((l) => l.msg === 'stopped accepting connections');
    // Repeated signals (Ctrl-C under npm start delivers SIGINT more than once) are ignored.
    const ignored = () => server?.logs.filter((l) => l.msg === 'already shutting down; signal ignored').length ?? 0;
    for (const n of [1, 2]) {
      server.child.kill('SIGINT');
      await waitFor(() => ignored() === n, 10_000, `repeated signal ${n} to be ignored`);
    }

    // A request on the already open connection: 503 problem+json, and the server closes it.
    const onOpen = await rawRequest(`${url}/api/v1/patients`, { agent: keepAlive, key: E2E_ADMIN_KEY });
    expect(onOpen).toMatchObject({
      status: 503,
      headers: expect.objectContaining({ connection: 'close', 'retry-after': '5' }),
    });
    if (!('status' in onOpen)) throw new Error('unreachable');
    expect(JSON.parse(onOpen.body)).toMatchObject({ status: 503, code: 'shutting_down' });
    // A new connection is refused: a load balancer retries it on another instance.
    expect(await rawRequest(`${url}/healthz`, { agent: false })).toEqual({ error: 'ECONNREFUSED' });

    await writers.done;
    // Still draining: the in-flight request holds it open.
    expect(server.child.exitCode).toBeNull();
    await locker.query('commit');
    const finished = await inFlight;
    expect(finished).toMatchObject({ status: 200, body: { patient_id: held, type: 'weight', value: 70 } });
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.logs.at(-1)).toMatchObject({ msg: 'process exit', exitCode: 0 });

    // Every write either succeeded and is stored, got a 503 from the drain, or was refused.
    const acked = acknowledged(writers.results);
    const others = writers.results.filter((r) => !acked.includes(r)).map((r) => r.outcome);
    for (const o of others) {
      if ('error' in o) expect(o.error).toBe('ECONNREFUSED');
      else expect(o).toMatchObject({ status: 503, body: { code: 'shutting_down' } });
    }
    const check = new pg.Client({ connectionString: db.url });
    await check.connect();
    try {
      const { rows } = await check.query<{ ts: string; value: number }>(
        `select to_char(timestamp at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as ts, value
         from biometrics where patient_id = $1`,
        [busy],
      );
      const stored = new Map(rows.map((r) => [r.ts, r.value]));
      // 503s come before any database work, so stored rows are exactly the acknowledged ones.
      expect(stored.size).toBe(acked.length);
      for (const w of acked) expect(stored.get(w.timestamp), w.timestamp).toBe(w.value);
      const heldRows = await check.query('select value from biometrics where patient_id = $1', [held]);
      expect(heldRows.rows).toEqual([{ value: 70 }]);
    } finally {
      await check.end();
    }

    const messages = server.logs.map((l) => l.msg);
    expect(messages).toContain('shutting down');
    expect(messages).toContain('stopped');
    expectRequestIdsOnRequestLogs(server.logs);
    keepAlive.destroy();
  });

  it('lets a request cut off by SHUTDOWN_TIMEOUT_MS finish and store its audit event before the database closes', {
    timeout: E2E_TIMEOUT_MS,
  }, async () => {
    const slow = await startServerProcess({ env: { DATABASE_URL: db.url, SHUTDOWN_TIMEOUT_MS: '300' } });
    const patient = await createPatientVia(slow.url);
    const lock = new pg.Client({ connectionString: db.url });
    await lock.connect();
    try {
      await lock.query('begin');
      await lock.query('select 1 from patients where id = $1 for update', [patient]);
      const timestamp = '2020-06-01T12:00:00.000Z';
      const inFlight = call(`${slow.url}/api/v1/biometrics`, {
        method: 'POST',
        key: E2E_ADMIN_KEY,
        json: { patient_id: patient, timestamp, type: 'weight', value: 71 },
      });
      await waitFor(
        async () => {
          const r = await lock.query(
            "select 1 from pg_stat_activity where wait_event_type = 'Lock' and application_name like 'patientpulse-api-%'",
          );
          return (r.rowCount ?? 0) > 0;
        },
        10_000,
        'the request to wait on the lock',
      );
      slow.child.kill('SIGTERM');
      await slow.waitForLog((l) => l.msg === 'waiting for requests still running');
      // The drain closed its connection; the handler still runs.
      expect(await inFlight).toEqual({ error: 'UND_ERR_SOCKET' });
      await lock.query('commit');
      expect(await slow.exited).toEqual({ code: 0, signal: null });

      const stored = await lock.query(
        'select value from biometrics where patient_id = $1 and timestamp = $2::timestamptz',
        [patient, timestamp],
      );
      expect(stored.rows).toEqual([{ value: 71 }]);
      const audited = await lock.query(
        `select method, route, status, outcome, patient_ids from audit_events
          where route = '/api/v1/biometrics' and $1 = any(patient_ids)`,
        [patient],
      );
      expect(audited.rows).toEqual([
        { method: 'POST', route: '/api/v1/biometrics', status: 200, outcome: 'allowed', patient_ids: [patient] },
      ]);
      const messages = slow.logs.map((l) => l.msg);
      expect(messages).toContain('shutdown timeout reached; closing connections with requests still running');
      expect(messages).not.toContain('error while stopping');
      expect(messages).not.toContain('the HTTP server did not close within its bound');
      expect(messages.some((m) => m.startsWith('requests still running when the database closed'))).toBe(false);
      expect(slow.text()).not.toContain('AVV_ERR_READY_TIMEOUT');
      expect(slow.logs.filter((l) => l.level >= 50)).toEqual([]);
    } finally {
      killServer(slow);
      await lock.end().catch(() => {});
    }
  });
});
