/**
 * The quick start as the README gives it: `npm start` with the embedded database in a
 * data directory. The server answers over HTTP, and Ctrl-C (SIGINT to the whole process
 * group: npm, tsx and node each get it, and npm and tsx relay it too) stops it with exit
 * code 0 after a clean drain, with every acknowledged write on disk.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, queryRows } from '../../src/db/database.js';
import { createPatientVia, E2E_TIMEOUT_MS, expectRequestIdsOnRequestLogs, RUN_PGLITE_E2E } from '../helpers/e2e.js';
import { call, E2E_ADMIN_KEY, killServer, type ServerProcess, startServerProcess } from '../helpers/server-process.js';
import { acknowledged, startWriters, waitFor } from '../helpers/traffic.js';

describe.skipIf(!RUN_PGLITE_E2E)('npm start (embedded database)', () => {
  let dataDir = '';
  let server: ServerProcess | undefined;

  beforeAll(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'pp-npm-start-'));
  });
  afterAll(() => {
    killServer(server, true);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves the API, stops on Ctrl-C with exit code 0 and keeps every acknowledged write', {
    timeout: E2E_TIMEOUT_MS,
  }, async () => {
    server = await startServerProcess({
      command: ['npm', 'start'],
      detached: true,
      env: { DATA_DIR: dataDir, ETL_ON_STARTUP: 'true' },
    });
    const { url } = server;
    const ready = server.logs.find((l) => l.msg.startsWith('PatientPulse ready'));
    expect(ready).toMatchObject({
      api: `${url}/api/v1`,
      docs: `${url}/docs`,
      metrics: `${url}/metrics`,
      database: 'pglite',
      data: path.join(dataDir, 'pgdata'),
    });

    expect(await call(`${url}/healthz`)).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await call(`${url}/readyz`)).toMatchObject({
      status: 200,
      body: { status: 'ready', checks: { startup: 'ok', shutdown: 'ok', database: 'ok' } },
    });
    expect(await call(`${url}/api/v1/patients`)).toMatchObject({ status: 401 });
    const list = await call(`${url}/api/v1/patients`, { key: E2E_ADMIN_KEY });
    expect(list).toMatchObject({ status: 200, body: { items: expect.any(Array) } });
    const echoed = await call(`${url}/api/v1/patients`, {
      key: E2E_ADMIN_KEY,
      headers: { 'x-request-id': 'ops-e2e-42' },
    });
    expect('headers' in echoed && echoed.headers.get('x-request-id')).toBe('ops-e2e-42');

    const patientId = await createPatientVia(url);
    const writers = startWriters({
      url,
      key: E2E_ADMIN_KEY,
      patientId,
      workers: 3,
      baseMs: Date.UTC(2023, 0, 1),
      until: (o) => 'error' in o,
    });
    await waitFor(() => acknowledged(writers.results).length >= 10, 60_000, 'writes before Ctrl-C');

    // Ctrl-C in a terminal: SIGINT to every process of the foreground group.
    process.kill(-(server.child.pid ?? 0), 'SIGINT');
    // npm reports the interrupt of the shell it ran the script in (exit by SIGINT, as in a
    // terminal); the server's own exit code is in its last log line.
    const npmExit = await server.exited;
    expect(npmExit.code === 0 || npmExit.signal === 'SIGINT', JSON.stringify(npmExit)).toBe(true);
    expect(server.logs.at(-1)).toMatchObject({ msg: 'process exit', exitCode: 0 });
    await writers.done;

    for (const r of writers.results) {
      if ('error' in r.outcome) expect(r.outcome.error).toBe('ECONNREFUSED');
      else expect([200, 503]).toContain(r.outcome.status);
    }
    const messages = server.logs.map((l) => l.msg);
    expect(messages).toContain('shutting down');
    expect(messages).toContain('stopped');
    expect(messages).not.toContain('shutdown did not finish in time; exiting');
    expectRequestIdsOnRequestLogs(server.logs);
    expect(server.logs.find((l) => l.reqId === 'ops-e2e-42')).toBeDefined();

    // The data directory was released and holds every acknowledged write.
    const database = await openDatabase({ dataDir });
    try {
      const rows = await queryRows<{ ts: string; value: number }>(
        database.db,
        sql`select to_char(timestamp at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as ts, value
            from biometrics where patient_id = ${patientId}`,
      );
      const stored = new Map(rows.map((r) => [r.ts, r.value]));
      const acked = acknowledged(writers.results);
      expect(stored.size).toBe(acked.length);
      for (const w of acked) expect(stored.get(w.timestamp), w.timestamp).toBe(w.value);
    } finally {
      await database.close();
    }
  });
});
