/**
 * Gating and small helpers for the end-to-end tests in test/e2e. They start real server
 * processes, so each runs once: the PostgreSQL ones in the `postgres` vitest project
 * (TEST_DATABASE_URL set, as in CI), the embedded ones in the `pglite` project.
 */
import http from 'node:http';
import { expect } from 'vitest';
import { TEST_DB } from './database.js';
import { call, E2E_ADMIN_KEY } from './server-process.js';

/**
 * Per-test bound for the end-to-end tests. They take seconds on an idle machine; the
 * bound is generous because a first PGlite start on a busy CI runner can take a minute.
 */
export const E2E_TIMEOUT_MS = 240_000;

/** True when this run should execute the PostgreSQL end-to-end tests. */
export const RUN_PG_E2E = TEST_DB === 'postgres' && Boolean(process.env.TEST_DATABASE_URL);

/** True when this run should execute the embedded-database end-to-end tests. */
export const RUN_PGLITE_E2E = TEST_DB === 'pglite';

/** Says why PostgreSQL end-to-end tests are skipped (only when no run will execute them). */
export function noticePgSkipped(file: string): void {
  if (!process.env.TEST_DATABASE_URL) {
    console.warn(`${file}: skipped, needs PostgreSQL; set TEST_DATABASE_URL (CI does) to run it`);
  }
}

let counter = 0;
/** Creates a patient through the API and returns its id. */
export async function createPatientVia(url: string, key = E2E_ADMIN_KEY): Promise<number> {
  counter++;
  const res = await call(`${url}/api/v1/patients`, {
    method: 'POST',
    key,
    json: {
      name: 'E2E Patient',
      dob: '1970-01-01',
      gender: 'other',
      email: `e2e.${process.pid}.${Date.now().toString(36)}.${counter}@example.org`,
    },
  });
  if (!('status' in res) || res.status !== 201) throw new Error(`patient not created: ${JSON.stringify(res)}`);
  return (res.body as { id: number }).id;
}

/** One request with node:http on a given agent (controls connection reuse exactly). */
export function rawRequest(
  url: string,
  opts: { agent: http.Agent | false; key?: string; method?: string },
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = http.request(
      url,
      {
        method: opts.method ?? 'GET',
        agent: opts.agent,
        headers: opts.key ? { authorization: `Bearer ${opts.key}` } : {},
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end();
  });
}

/** Every request-scoped log line carries the request id. */
export function expectRequestIdsOnRequestLogs(logs: Array<{ msg: string; reqId?: string }>): void {
  const requestLines = logs.filter((l) => l.msg === 'incoming request' || l.msg === 'request completed');
  expect(requestLines.length).toBeGreaterThan(0);
  for (const l of requestLines) expect(l.reqId, JSON.stringify(l)).toEqual(expect.any(String));
}
