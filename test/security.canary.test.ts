/**
 * Canary PHI test: unique names, emails, phones, addresses and reading values are pushed
 * through every route, in bodies, query strings, paths and headers, on success and on
 * every kind of error (including a database error and a 500), with the most verbose log
 * level. The captured logs must contain none of them, nor any query string.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { type Database, queryRows } from '../src/db/database.js';
import { createKey } from '../src/modules/keys/keys.service.js';
import { testConfig } from './helpers/app.js';
import { createTestDatabase } from './helpers/database.js';
import { captureLogs, uniqueTimestamp } from './helpers/security.js';

const token = () => randomBytes(6).toString('hex');
const C = {
  name: `Canaryname Zq${token()}`,
  newName: `Canaryrenamed Zq${token()}`,
  email: `canary.${token()}@example.org`,
  phone: `555-${String(Date.now()).slice(-7)}`,
  address: `${token()} Canary Lane`,
  value: 137.9131,
  badValue: 9999.7171,
  unit: `mg/zq${token()}`,
  freeText: `Canaryfree Zq${token()}`,
};
/** Each canary as it could appear in a log line. */
const NEEDLES = [
  C.name,
  C.name.split(' ')[1] as string,
  C.newName.split(' ')[1] as string,
  C.email,
  C.email.split('@')[0] as string,
  C.phone,
  C.address.split(' ')[0] as string,
  String(C.value),
  String(C.badValue),
  C.unit,
  C.freeText.split(' ')[1] as string,
];

const logs = captureLogs();
let app: FastifyInstance;
let database: Database;
let admin: string;
const responses: LightMyRequestResponse[] = [];

async function call(key: string | null, req: InjectOptions): Promise<LightMyRequestResponse> {
  const headers = { ...(req.headers ?? {}) } as Record<string, string>;
  if (key) headers.authorization = `Bearer ${key}`;
  const res = await app.inject({ ...req, headers });
  responses.push(res);
  return res;
}

beforeAll(async () => {
  database = await createTestDatabase();
  app = await buildApp({
    config: testConfig({ LOG_LEVEL: 'trace', BODY_LIMIT_BYTES: '4096' }),
    database,
    logStream: logs.stream,
  });
  // Routes that fail the way real code can: a database error quoting the value, and a
  // thrown error quoting it.
  app.get('/api/v1/test-db-error', { config: { permission: 'patients:read' } }, async () => {
    await queryRows(database.db, sql`select ${C.freeText}::int as n`);
    return {};
  });
  app.get('/api/v1/test-throw', { config: { permission: 'patients:read' } }, async () => {
    throw new Error(`could not handle "${C.freeText}" for ${C.email}`);
  });
  await app.ready();
  admin = (await createKey({ db: database.db }, { name: 'canary admin', role: 'admin' })).key;
});
afterAll(async () => {
  await app?.close();
  await database?.close();
});

describe('canary PHI', () => {
  it('never reaches the logs, whatever the route or outcome', async () => {
    const created = await call(admin, {
      method: 'POST',
      url: '/api/v1/patients',
      payload: {
        name: C.name,
        dob: '1961-07-07',
        gender: 'female',
        email: C.email,
        phone: C.phone,
        address: C.address,
      },
    });
    expect(created.statusCode).toBe(201);
    const id = created.json().id as number;
    const patientKey = (
      await createKey({ db: database.db }, { name: 'canary patient', role: 'patient', patientIds: [id] })
    ).key;

    const expectations: [InjectOptions, number, string | null][] = [
      // patients: reads, lists with the canary as filter, writes, and their errors
      [{ method: 'GET', url: `/api/v1/patients/${id}` }, 200, admin],
      [{ method: 'GET', url: `/api/v1/patients?search=${encodeURIComponent(C.name)}` }, 200, admin],
      [{ method: 'GET', url: `/api/v1/patients?search=${encodeURIComponent(C.email)}` }, 200, admin],
      [{ method: 'GET', url: `/api/v1/patients?search=${encodeURIComponent(C.email)}&size=abc` }, 422, admin],
      [{ method: 'GET', url: `/api/v1/patients/${encodeURIComponent(C.name)}` }, 422, admin],
      [{ method: 'GET', url: `/api/v1/patients/${encodeURIComponent(C.email)}` }, 422, admin],
      [
        {
          method: 'POST',
          url: '/api/v1/patients',
          payload: { name: C.name, dob: '1961-07-07', gender: 'female', email: C.email },
        },
        409,
        admin,
      ],
      [
        {
          method: 'POST',
          url: '/api/v1/patients',
          payload: { name: C.name, dob: C.phone, gender: C.freeText, email: C.name, phone: C.address },
        },
        422,
        admin,
      ],
      [{ method: 'PATCH', url: `/api/v1/patients/${id}`, payload: { name: C.newName } }, 200, admin],
      [{ method: 'PATCH', url: `/api/v1/patients/${id}`, payload: { email: C.freeText } }, 422, admin],
      [{ method: 'PATCH', url: `/api/v1/patients/${id}`, payload: { [C.freeText]: C.email } }, 422, admin],
      [{ method: 'PATCH', url: `/api/v1/patients/${id}`, payload: { name: `${C.name}\u0000` } }, 422, admin],
      [{ method: 'PATCH', url: `/api/v1/patients/${id}`, payload: { name: C.name } }, 403, patientKey],
      // readings
      [
        {
          method: 'POST',
          url: '/api/v1/biometrics',
          payload: { patient_id: id, timestamp: uniqueTimestamp(), type: 'glucose', value: C.value },
        },
        200,
        patientKey,
      ],
      [
        {
          method: 'POST',
          url: '/api/v1/biometrics',
          payload: { patient_id: id, timestamp: uniqueTimestamp(), type: 'glucose', value: C.badValue },
        },
        422,
        admin,
      ],
      [
        {
          method: 'POST',
          url: '/api/v1/biometrics',
          payload: { patient_id: id, timestamp: uniqueTimestamp(), type: 'glucose', value: 5, unit: C.unit },
        },
        422,
        admin,
      ],
      [
        {
          method: 'POST',
          url: '/api/v1/biometrics',
          payload: { patient_id: id, timestamp: C.freeText, type: C.name, value: String(C.value) },
        },
        422,
        admin,
      ],
      [{ method: 'GET', url: `/api/v1/biometrics?patient_id=${id}` }, 200, patientKey],
      [
        { method: 'GET', url: `/api/v1/biometrics?patient_id=${id}&from=${encodeURIComponent(C.freeText)}` },
        422,
        admin,
      ],
      [{ method: 'GET', url: `/api/v1/biometrics?patient_id=${encodeURIComponent(C.email)}` }, 422, admin],
      // analytics and audit, with canary filters
      [{ method: 'GET', url: `/api/v1/analytics?patient_id=${id}` }, 200, admin],
      [{ method: 'GET', url: `/api/v1/analytics?metric=${encodeURIComponent(C.name)}` }, 422, admin],
      [{ method: 'GET', url: `/api/v1/audit?patient_id=${id}` }, 200, admin],
      [{ method: 'GET', url: `/api/v1/audit?outcome=${encodeURIComponent(C.email)}` }, 422, admin],
      // keys, with canary names
      [{ method: 'POST', url: '/api/v1/keys', payload: { name: C.freeText, role: 'reader' } }, 201, admin],
      [{ method: 'POST', url: '/api/v1/keys', payload: { name: C.name, role: C.email } }, 422, admin],
      [{ method: 'GET', url: '/api/v1/keys' }, 200, admin],
      // malformed and oversized bodies carrying the canary
      [
        {
          method: 'POST',
          url: '/api/v1/patients',
          headers: { 'content-type': 'application/json' },
          payload: `{"name": "${C.name}", "email": "${C.email}",`,
        },
        400,
        admin,
      ],
      [
        {
          method: 'POST',
          url: '/api/v1/patients',
          payload: {
            name: C.name,
            dob: '1961-07-07',
            gender: 'female',
            email: C.email,
            address: C.address.repeat(300),
          },
        },
        413,
        admin,
      ],
      // credentials and PHI in headers, query strings and unknown paths
      [{ method: 'GET', url: '/api/v1/patients', headers: { authorization: `Bearer ${C.email}` } }, 401, null],
      [{ method: 'GET', url: '/api/v1/patients', headers: { 'x-api-key': C.name } }, 401, null],
      [{ method: 'GET', url: `/api/v1/patients?api_key=${encodeURIComponent(C.email)}` }, 401, admin],
      [{ method: 'GET', url: `/api/v1/${encodeURIComponent(C.name)}/${encodeURIComponent(C.email)}` }, 404, admin],
      [{ method: 'GET', url: `/healthz?who=${encodeURIComponent(C.email)}` }, 200, null],
      // server-side failures quoting the value
      [{ method: 'GET', url: '/api/v1/test-db-error' }, 500, admin],
      [{ method: 'GET', url: '/api/v1/test-throw' }, 500, admin],
      // erasure last
      [{ method: 'DELETE', url: `/api/v1/patients/${id}` }, 200, admin],
    ];
    for (const [req, status, key] of expectations) {
      const res = await call(key, req);
      expect(res.statusCode, `${req.method} ${req.url}: ${res.body.slice(0, 300)}`).toBe(status);
    }

    const text = logs.text();
    const lines = logs.lines();
    // The logs are there and carry what operators need: ids, routes, statuses, errors.
    expect(lines.length).toBeGreaterThan(responses.length);
    // Probes log at warn level only (they are polled constantly); every other request is logged.
    const logged = responses.filter((r) => !String(r.raw.req.url).startsWith('/healthz'));
    for (const res of logged) expect(text).toContain(String(res.headers['x-request-id']));
    expect(lines.some((l) => (l.req as { route?: string } | undefined)?.route === '/api/v1/patients/:id')).toBe(true);
    expect(lines.some((l) => (l.req as { path?: string } | undefined)?.path === `/api/v1/patients/${id}`)).toBe(true);
    expect(lines.filter((l) => l.msg === 'unhandled error')).toHaveLength(2);
    expect(lines.some((l) => (l.err as { sqlState?: string } | undefined)?.sqlState === '22P02')).toBe(true);

    const lower = text.toLowerCase();
    for (const needle of NEEDLES) {
      expect(lower.includes(needle.toLowerCase()), `log contains ${needle}`).toBe(false);
      expect(lower.includes(encodeURIComponent(needle).toLowerCase()), `log contains encoded ${needle}`).toBe(false);
    }
    for (const l of lines) {
      const s = JSON.stringify(l);
      expect(s, s).not.toMatch(/[?&](search|patient_id|api_key|who|from|metric|outcome)=/);
    }
  });

  it('responses never echo submitted values in error messages', () => {
    for (const res of responses.filter((r) => r.statusCode >= 400)) {
      const body = res.json() as { detail: string; errors?: { message: string }[] };
      const messages = [body.detail, ...(body.errors ?? []).map((e) => e.message)].join(' ').toLowerCase();
      for (const needle of NEEDLES) expect(messages, res.body).not.toContain(needle.toLowerCase());
    }
  });
});
