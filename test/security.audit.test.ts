/**
 * The audit trail: exactly one event per request to a route that needs a key (served,
 * refused or failed) with every field; the request fails when its event cannot be
 * stored; GET /api/v1/audit filters and pages; the table is append-only in the database
 * itself; concurrent events are group-committed.
 */
import { sql } from 'drizzle-orm';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../src/db/database.js';
import { analytics, auditEvents } from '../src/db/schema.js';
import { AuditWriter } from '../src/modules/audit/audit.writer.js';
import type { Role } from '../src/modules/keys/keys.roles.js';
import { createKey } from '../src/modules/keys/keys.service.js';
import { createTestApp, type TestApp, uniqueEmail } from './helpers/app.js';
import {
  auditEventsFor,
  captureLogs,
  expiredKey,
  newPatient,
  newReading,
  ROLE_LIST,
  requestId,
  revokedKey,
  uniqueTimestamp,
  unknownKey,
} from './helpers/security.js';

let t: TestApp;
const logs = captureLogs();
const keyIds = {} as Record<Role, number>;
const keys = {} as Record<Role, string>;
let P: { id: number };
let started: Date;

beforeAll(async () => {
  started = new Date(Date.now() - 1000);
  t = await createTestApp({ logStream: logs.stream, env: { LOG_LEVEL: 'info' } });
  P = await newPatient(t);
  await newReading(t, P.id);
  for (const role of ROLE_LIST) {
    const { key, info } = await createKey(
      { db: t.database.db },
      { name: `audit ${role}`, role, patientIds: role === 'patient' ? [P.id] : null },
    );
    keys[role] = key;
    keyIds[role] = info.id;
  }
  await t.database.db.insert(analytics).values({
    patientId: P.id,
    type: 'weight',
    bucketStart: new Date('2024-02-01T08:00:00Z'),
    min: 70,
    max: 72,
    sum: 142,
    count: 2,
  });
});
afterAll(async () => {
  await t?.close();
});

/** Calls with a unique request id and returns the response and that request's events. */
async function traced(key: string | null, req: InjectOptions) {
  const id = requestId('audit');
  const res = await t.call(key, { ...req, headers: { ...(req.headers ?? {}), 'x-request-id': id } });
  expect(res.headers['x-request-id']).toBe(id);
  return { res, events: await auditEventsFor(t.database.db, id), id };
}

function expectOneEvent(
  events: Awaited<ReturnType<typeof auditEventsFor>>,
  want: {
    id: string;
    route: string;
    method: string;
    status: number;
    outcome: string;
    role: Role | null;
    patientIds?: number[] | null;
    recordIds?: number[] | null;
  },
) {
  expect(events).toHaveLength(1);
  const e = events[0];
  if (!e) throw new Error('no event');
  expect(e).toMatchObject({
    keyId: want.role ? keyIds[want.role] : null,
    role: want.role,
    action: `${want.method} ${want.route}`,
    method: want.method,
    route: want.route,
    status: want.status,
    outcome: want.outcome,
    requestId: want.id,
    clientIp: '127.0.0.1',
  });
  expect(e.at.getTime()).toBeGreaterThanOrEqual(started.getTime());
  expect(e.at.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
  if (want.patientIds !== undefined) {
    expect(e.patientIds ? [...e.patientIds].sort((a, b) => a - b) : null).toEqual(want.patientIds);
  }
  if (want.recordIds !== undefined) expect(e.recordIds).toEqual(want.recordIds);
  return e;
}

interface Served {
  role: Role;
  request(): Promise<InjectOptions> | InjectOptions;
  status: number;
  /** Set for routes that hold no patient data and are not audited when served (/metrics). */
  noEvent?: true;
  /** Patient and record ids the event must name, computed from the response. */
  touched(body: unknown, req: InjectOptions): { patientIds: number[] | null; recordIds: number[] | null };
}

const idsOf = (items: { id: number }[]) => items.map((i) => i.id);

/** Every route that needs a key, served: what its event must name. */
const SERVED: Record<string, Served> = {
  'POST /api/v1/analytics/run': {
    role: 'admin',
    request: () => ({ method: 'POST', url: '/api/v1/analytics/run', payload: { version: 2 } }),
    status: 200,
    touched: () => ({ patientIds: null, recordIds: null }),
  },
  'GET /api/v1/analytics/runs': {
    role: 'admin',
    request: () => ({ method: 'GET', url: '/api/v1/analytics/runs' }),
    status: 200,
    touched: () => ({ patientIds: null, recordIds: null }),
  },
  'GET /api/v1/me': {
    role: 'reader',
    request: () => ({ method: 'GET', url: '/api/v1/me' }),
    status: 200,
    touched: () => ({ patientIds: null, recordIds: null }),
  },
  'GET /api/v1/patients/summary': {
    role: 'patient',
    request: () => ({ method: 'GET', url: '/api/v1/patients/summary' }),
    status: 200,
    touched: () => ({ patientIds: [P.id], recordIds: null }),
  },
  'GET /api/v1/patients/{id}/summary': {
    role: 'patient',
    request: () => ({ method: 'GET', url: `/api/v1/patients/${P.id}/summary` }),
    status: 200,
    touched: () => ({ patientIds: [P.id], recordIds: null }),
  },
  'GET /api/v1/biometrics/series': {
    role: 'patient',
    request: () => ({
      method: 'GET',
      url: `/api/v1/biometrics/series?patient_id=${P.id}&from=2025-01-01T00:00:00Z&to=2025-01-02T00:00:00Z`,
    }),
    status: 200,
    touched: () => ({ patientIds: [P.id], recordIds: null }),
  },
  'POST /api/v1/biometrics/bulk': {
    role: 'device',
    request: () => ({
      method: 'POST',
      url: '/api/v1/biometrics/bulk',
      payload: [{ patient_id: P.id, timestamp: uniqueTimestamp(), type: 'weight', value: 70.5 }],
    }),
    status: 200,
    touched: () => ({ patientIds: [P.id], recordIds: null }),
  },
  'GET /metrics': {
    role: 'metrics',
    request: () => ({ method: 'GET', url: '/metrics' }),
    status: 200,
    noEvent: true,
    touched: () => ({ patientIds: null, recordIds: null }),
  },
  'GET /api/v1/patients': {
    role: 'reader',
    request: () => ({ method: 'GET', url: '/api/v1/patients?size=5' }),
    status: 200,
    touched: (b) => ({ patientIds: idsOf((b as { items: { id: number }[] }).items).sort(), recordIds: null }),
  },
  'POST /api/v1/patients': {
    role: 'clinician',
    request: () => ({
      method: 'POST',
      url: '/api/v1/patients',
      payload: { name: 'Audit Created', dob: '1950-05-05', gender: 'male', email: uniqueEmail('audit') },
    }),
    status: 201,
    touched: (b) => ({ patientIds: [(b as { id: number }).id], recordIds: null }),
  },
  'GET /api/v1/patients/{id}': {
    role: 'patient',
    request: () => ({ method: 'GET', url: `/api/v1/patients/${P.id}` }),
    status: 200,
    touched: () => ({ patientIds: [P.id], recordIds: null }),
  },
  'PATCH /api/v1/patients/{id}': {
    role: 'clinician',
    request: () => ({ method: 'PATCH', url: `/api/v1/patients/${P.id}`, payload: { phone: '555-0100' } }),
    status: 200,
    touched: () => ({ patientIds: [P.id], recordIds: null }),
  },
  'DELETE /api/v1/patients/{id}': {
    role: 'admin',
    request: async () => ({ method: 'DELETE', url: `/api/v1/patients/${(await newPatient(t)).id}` }),
    status: 200,
    touched: (b) => ({ patientIds: [(b as { deleted_id: number }).deleted_id], recordIds: null }),
  },
  'GET /api/v1/biometrics': {
    role: 'patient',
    request: () => ({ method: 'GET', url: `/api/v1/biometrics?patient_id=${P.id}` }),
    status: 200,
    touched: (b) => ({ patientIds: [P.id], recordIds: idsOf((b as { items: { id: number }[] }).items) }),
  },
  'POST /api/v1/biometrics': {
    role: 'device',
    request: () => ({
      method: 'POST',
      url: '/api/v1/biometrics',
      payload: { patient_id: P.id, timestamp: uniqueTimestamp(), type: 'systolic', value: 120 },
    }),
    status: 200,
    touched: (b) => ({ patientIds: [P.id], recordIds: [(b as { id: number }).id] }),
  },
  'DELETE /api/v1/biometrics/{id}': {
    role: 'clinician',
    request: async () => ({ method: 'DELETE', url: `/api/v1/biometrics/${(await newReading(t, P.id)).id}` }),
    status: 200,
    touched: (b) => ({ patientIds: [P.id], recordIds: [(b as { deleted_id: number }).deleted_id] }),
  },
  'GET /api/v1/analytics': {
    role: 'reader',
    request: () => ({ method: 'GET', url: `/api/v1/analytics?patient_id=${P.id}` }),
    status: 200,
    touched: () => ({ patientIds: [P.id], recordIds: null }),
  },
  'GET /api/v1/audit': {
    role: 'admin',
    request: () => ({ method: 'GET', url: `/api/v1/audit?patient_id=${P.id}&size=1` }),
    status: 200,
    touched: () => ({ patientIds: [P.id], recordIds: null }),
  },
  'POST /api/v1/keys': {
    role: 'admin',
    request: () => ({ method: 'POST', url: '/api/v1/keys', payload: { name: 'audited', role: 'reader' } }),
    status: 201,
    touched: () => ({ patientIds: null, recordIds: null }),
  },
  'GET /api/v1/keys': {
    role: 'admin',
    request: () => ({ method: 'GET', url: '/api/v1/keys' }),
    status: 200,
    touched: () => ({ patientIds: null, recordIds: null }),
  },
  'GET /fhir/Patient/{id}': {
    role: 'patient',
    request: () => ({ method: 'GET', url: `/fhir/Patient/${P.id}` }),
    status: 200,
    touched: () => ({ patientIds: [P.id], recordIds: null }),
  },
  'GET /fhir/Patient': {
    role: 'patient',
    request: () => ({ method: 'GET', url: '/fhir/Patient' }),
    status: 200,
    touched: () => ({ patientIds: [P.id], recordIds: null }),
  },
  'GET /fhir/Observation/{id}': {
    role: 'patient',
    request: async () => ({ method: 'GET', url: `/fhir/Observation/${(await newReading(t, P.id)).id}` }),
    status: 200,
    touched: (b) => ({ patientIds: [P.id], recordIds: [Number((b as { id: string }).id)] }),
  },
  'GET /fhir/Observation': {
    role: 'patient',
    request: () => ({ method: 'GET', url: `/fhir/Observation?patient=${P.id}&_count=5` }),
    status: 200,
    touched: (b) => ({
      patientIds: [P.id],
      recordIds: (b as { entry: { resource: { id: string } }[] }).entry.map((e) => Number(e.resource.id)),
    }),
  },
  'DELETE /api/v1/keys/{id}': {
    role: 'admin',
    request: async () => {
      const { info } = await createKey({ db: t.database.db }, { name: 'revoke me', role: 'reader' });
      return { method: 'DELETE', url: `/api/v1/keys/${info.id}` };
    },
    status: 200,
    touched: () => ({ patientIds: null, recordIds: null }),
  },
};

function protectedRoutes(): string[] {
  const spec = t.app.swagger() as unknown as {
    paths: Record<string, Record<string, { security?: unknown[] }>>;
  };
  return Object.entries(spec.paths).flatMap(([path, ops]) =>
    Object.entries(ops)
      .filter(([, op]) => !Array.isArray(op.security) || op.security.length > 0)
      .map(([m]) => `${m.toUpperCase()} ${path}`),
  );
}

const fastifyRoute = (openapiPath: string) => openapiPath.replaceAll(/\{([^}]+)\}/g, ':$1');

describe('audit coverage', () => {
  it('has a served case for every route that needs a key', () => {
    expect(Object.keys(SERVED).sort()).toEqual(protectedRoutes().sort());
  });

  it.each(Object.entries(SERVED))('%s served: one event naming what was touched', async (route, c) => {
    const req = await c.request();
    const { res, events, id } = await traced(keys[c.role], req);
    expect(res.statusCode, res.body).toBe(c.status);
    if (c.noEvent) {
      expect(events).toEqual([]);
      return;
    }
    const [method, path] = route.split(' ') as [string, string];
    const touched = c.touched(res.json(), req);
    const e = expectOneEvent(events, {
      id,
      route: fastifyRoute(path),
      method,
      status: c.status,
      outcome: 'allowed',
      role: c.role,
      patientIds: touched.patientIds,
      recordIds: touched.recordIds,
    });
    if (/^(POST|DELETE) .*\/keys/.test(route)) expect(e.detail).toMatchObject({ key_id: expect.any(Number) });
  });

  const denials: [string, () => Promise<string | null> | string | null, string][] = [
    ['no key', () => null, 'missing_key'],
    ['a malformed key', () => 'garbage-key-value-123', 'invalid_key'],
    ['an unknown key', () => unknownKey(), 'invalid_key'],
    ['a revoked key', () => revokedKey(t.database.db), 'invalid_key'],
    ['an expired key', () => expiredKey(t.database.db), 'invalid_key'],
  ];

  it.each(denials)('every route refused with %s: one denied event', async (_label, keyOf, reason) => {
    for (const route of protectedRoutes()) {
      const [method, path] = route.split(' ') as [InjectOptions['method'], string];
      const { res, events, id } = await traced(await keyOf(), {
        method,
        url: path.replaceAll(/\{[^}]+\}/g, '2000000000'),
      });
      expect(res.statusCode).toBe(401);
      const e = expectOneEvent(events, {
        id,
        route: fastifyRoute(path),
        method: String(method),
        status: 401,
        outcome: 'denied',
        role: null,
        patientIds: null,
        recordIds: null,
      });
      expect(e.detail).toMatchObject({ reason });
    }
  });

  it('every route refused for a key in the query string: one denied event, no key stored', async () => {
    for (const route of protectedRoutes()) {
      const [method, path] = route.split(' ') as [InjectOptions['method'], string];
      const url = `${path.replaceAll(/\{[^}]+\}/g, '2000000000')}?api_key=${keys.admin}`;
      const { res, events, id } = await traced(null, { method, url });
      expect(res.statusCode).toBe(401);
      const e = expectOneEvent(events, {
        id,
        route: fastifyRoute(path),
        method: String(method),
        status: 401,
        outcome: 'denied',
        role: null,
      });
      expect(e.detail).toEqual({ reason: 'key_in_query' });
      expect(JSON.stringify(e)).not.toContain(keys.admin);
    }
  });

  it('every route refused for a role without the permission: exactly one denied event (not two)', async () => {
    let checked = 0;
    for (const route of protectedRoutes()) {
      const [method, path] = route.split(' ') as [InjectOptions['method'], string];
      for (const role of ROLE_LIST) {
        const { res, events, id } = await traced(keys[role], {
          method,
          url: path.replaceAll(/\{[^}]+\}/g, '2000000000'),
        });
        if (res.statusCode !== 403) continue;
        checked += 1;
        const e = expectOneEvent(events, {
          id,
          route: fastifyRoute(path),
          method: String(method),
          status: 403,
          outcome: 'denied',
          role,
        });
        expect(e.detail).toMatchObject({ reason: 'forbidden' });
      }
    }
    expect(checked).toBeGreaterThanOrEqual(protectedRoutes().length);
  });

  it.each([
    ['GET /api/v1/patients/{id}', 'device', (id: number) => `/api/v1/patients/${id}`, 'GET'],
    ['PATCH /api/v1/patients/{id}', 'reader', (id: number) => `/api/v1/patients/${id}`, 'PATCH'],
    ['GET /api/v1/patients/{id}/summary', 'metrics', (id: number) => `/api/v1/patients/${id}/summary`, 'GET'],
    ['GET /api/v1/biometrics', 'device', (id: number) => `/api/v1/biometrics?patient_id=${id}`, 'GET'],
    ['GET /api/v1/analytics', 'device', (id: number) => `/api/v1/analytics?patient_id=${id}`, 'GET'],
    ['GET /fhir/Patient/{id}', 'device', (id: number) => `/fhir/Patient/${id}`, 'GET'],
    ['GET /fhir/Observation', 'device', (id: number) => `/fhir/Observation?patient=Patient/${id}`, 'GET'],
    ['GET /fhir/Observation', 'metrics', (id: number) => `/fhir/Observation?patient=${id}`, 'GET'],
  ] as const)(
    '%s refused to a %s key: the denied event names the targeted patient',
    async (route, role, url, method) => {
      const { res, events, id } = await traced(keys[role], { method, url: url(P.id) });
      expect(res.statusCode).toBe(403);
      const e = expectOneEvent(events, {
        id,
        route: fastifyRoute(route.split(' ')[1] as string).split('?')[0] as string,
        method,
        status: 403,
        outcome: 'denied',
        role,
        patientIds: [P.id],
        recordIds: null,
      });
      expect(e.detail).toMatchObject({ reason: 'forbidden' });
    },
  );

  it('a refusal names no patient for an id that is not a plain number', async () => {
    const { res, events, id } = await traced(keys.device, {
      method: 'GET',
      url: '/api/v1/biometrics?patient_id=0x10&patient_id=99999999999',
    });
    expect(res.statusCode).toBe(403);
    expectOneEvent(events, {
      id,
      route: '/api/v1/biometrics',
      method: 'GET',
      status: 403,
      outcome: 'denied',
      role: 'device',
      patientIds: null,
      recordIds: null,
    });
  });

  it('an out-of-scope id gets one not_found event naming the attempted patient', async () => {
    const other = await newPatient(t);
    const { res, events, id } = await traced(keys.patient, { method: 'GET', url: `/api/v1/patients/${other.id}` });
    expect(res.statusCode).toBe(404);
    expectOneEvent(events, {
      id,
      route: '/api/v1/patients/:id',
      method: 'GET',
      status: 404,
      outcome: 'not_found',
      role: 'patient',
      patientIds: [other.id],
    });
  });

  it('a refused analytics request for another patient names that patient, and the audit query finds it', async () => {
    const other = await newPatient(t);
    const { res, events, id } = await traced(keys.patient, {
      method: 'GET',
      url: `/api/v1/analytics?patient_id=${other.id}`,
    });
    expect(res.statusCode).toBe(404);
    expectOneEvent(events, {
      id,
      route: '/api/v1/analytics',
      method: 'GET',
      status: 404,
      outcome: 'not_found',
      role: 'patient',
      patientIds: [other.id],
      recordIds: null,
    });
    const trail = await t.call(keys.admin, { method: 'GET', url: `/api/v1/audit?patient_id=${other.id}` });
    expect(trail.statusCode).toBe(200);
    const attempt = trail.json().items.filter((e: { request_id: string }) => e.request_id === id);
    expect(attempt).toHaveLength(1);
    expect(attempt[0]).toMatchObject({ patient_ids: [other.id], status: 404, outcome: 'not_found' });
  });

  it('a rejected request (422) gets one rejected event', async () => {
    const { res, events, id } = await traced(keys.clinician, {
      method: 'POST',
      url: '/api/v1/biometrics',
      payload: { patient_id: P.id, timestamp: 'yesterday', type: 'glucose', value: 5 },
    });
    expect(res.statusCode).toBe(422);
    expectOneEvent(events, {
      id,
      route: '/api/v1/biometrics',
      method: 'POST',
      status: 422,
      outcome: 'rejected',
      role: 'clinician',
    });
  });

  it('public routes and unknown paths write no event', async () => {
    for (const url of ['/healthz', '/readyz', '/api/v1/nothing-here']) {
      const { events } = await traced(keys.admin, { method: 'GET', url });
      expect(events).toEqual([]);
    }
  });
});

describe('when the audit event cannot be stored', () => {
  it('the request fails with 503 and no patient data leaves', async () => {
    const secretName = 'Withheld Person';
    const p = await newPatient(t, { name: secretName });
    await queryRows(
      t.database.db,
      sql.raw(`create function audit_fail() returns trigger language plpgsql as $$
        begin raise exception 'audit store unavailable (test)'; end $$`),
    );
    await queryRows(
      t.database.db,
      sql.raw('create trigger audit_fail before insert on audit_events for each row execute function audit_fail()'),
    );
    try {
      for (const url of [`/api/v1/patients/${p.id}`, '/api/v1/patients', `/api/v1/analytics?patient_id=${P.id}`]) {
        const res = await t.call(keys.admin, { method: 'GET', url });
        expect(res.statusCode).toBe(503);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.headers['x-total-count']).toBeUndefined();
        expect(res.json()).toMatchObject({ status: 503, code: 'audit_unavailable' });
        expect(res.body).not.toContain(secretName);
      }
      const denied = await t.call(null, { method: 'GET', url: `/api/v1/patients/${p.id}` });
      expect(denied.statusCode).toBe(503);
    } finally {
      await queryRows(t.database.db, sql.raw('drop trigger audit_fail on audit_events'));
      await queryRows(t.database.db, sql.raw('drop function audit_fail()'));
    }
    expect(logs.text()).toContain('audit event could not be recorded');
    expect(logs.text()).not.toContain(secretName);
    const after = await t.call(keys.admin, { method: 'GET', url: `/api/v1/patients/${p.id}` });
    expect(after.statusCode).toBe(200);
  });
});

describe('GET /api/v1/audit', () => {
  it('filters by patient, key, outcome and time, newest first, paged with a total', async () => {
    const q = await newPatient(t);
    const from = new Date(Date.now() - 1000).toISOString();
    for (let i = 0; i < 3; i++) await t.call(keys.reader, { method: 'GET', url: `/api/v1/patients/${q.id}` });
    await t.call(keys.patient, { method: 'GET', url: `/api/v1/patients/${q.id}` }); // out of scope: not_found
    const call = (query: string) => t.call(keys.admin, { method: 'GET', url: `/api/v1/audit?${query}` });

    // Reading the trail is itself audited (with the patient filter), so count the reads
    // of one key where later audit queries would shift the totals.
    const byPatient = (await call(`patient_id=${q.id}&size=2`)).json();
    expect(byPatient.total).toBe(5); // creation + 3 reads + the refused read
    expect(byPatient.items).toHaveLength(2);
    expect(byPatient.items[0].patient_ids).toContain(q.id);
    expect(Date.parse(byPatient.items[0].at)).toBeGreaterThanOrEqual(Date.parse(byPatient.items[1].at));

    const byKey = (await call(`patient_id=${q.id}&key_id=${keyIds.reader}`)).json();
    expect(byKey.total).toBe(3);
    const page2 = (await call(`patient_id=${q.id}&key_id=${keyIds.reader}&size=2&page=2`)).json();
    expect(page2).toMatchObject({ page: 2, size: 2, total: 3 });
    expect(page2.items).toHaveLength(1);
    expect(page2.items[0].id).toBe(byKey.items[2].id);
    expect(byKey.items.every((e: { key_id: number; role: string }) => e.key_id === keyIds.reader)).toBe(true);
    expect(Object.keys(byKey.items[0]).sort()).toEqual(
      [
        'action',
        'at',
        'client_ip',
        'detail',
        'id',
        'key_id',
        'method',
        'outcome',
        'patient_ids',
        'record_ids',
        'request_id',
        'role',
        'route',
        'status',
      ].sort(),
    );

    const notFound = (await call(`patient_id=${q.id}&outcome=not_found`)).json();
    expect(notFound.total).toBe(1);
    expect(notFound.items[0]).toMatchObject({ key_id: keyIds.patient, status: 404, outcome: 'not_found' });

    const windowed = (
      await call(`key_id=${keyIds.reader}&patient_id=${q.id}&from=${encodeURIComponent(from)}&to=2199-01-01T00:00:00Z`)
    ).json();
    expect(windowed.total).toBe(3);
    const before = (await call(`patient_id=${q.id}&to=${encodeURIComponent(from)}`)).json();
    expect(before.total).toBe(0);
  });

  it.each(['outcome=maybe', 'size=501', 'from=yesterday', 'patient_id=abc', 'page=0'])('rejects %s', async (q) => {
    const res = await t.call(keys.admin, { method: 'GET', url: `/api/v1/audit?${q}` });
    expect(res.statusCode).toBe(422);
  });
});

describe('append-only audit_events', () => {
  it.each([
    ['UPDATE', "update audit_events set outcome = 'allowed'"],
    ['DELETE', 'delete from audit_events'],
    ['TRUNCATE', 'truncate audit_events'],
  ])('rejects %s in the database itself', async (_op, statement) => {
    const before = await queryRows<{ n: number; outcomes: string }>(
      t.database.db,
      sql`select count(*)::int as n, string_agg(outcome, ',' order by id) as outcomes from audit_events`,
    );
    expect(before[0]?.n).toBeGreaterThan(0);
    const err = await queryRows(t.database.db, sql.raw(statement)).then(
      () => undefined,
      (e: unknown) => e as { code?: string; cause?: { code?: string; message?: string }; message?: string },
    );
    expect(err).toBeDefined();
    const code = err?.code ?? err?.cause?.code;
    expect(code).toBe('42501');
    expect(`${err?.message} ${err?.cause?.message}`).toMatch(/append-only/);
    const after = await queryRows<{ n: number; outcomes: string }>(
      t.database.db,
      sql`select count(*)::int as n, string_agg(outcome, ',' order by id) as outcomes from audit_events`,
    );
    expect(after).toEqual(before);
  });
});

describe('group commit', () => {
  it('writes events recorded in the same tick with one INSERT, each awaiting its own commit', async () => {
    const writer = new AuditWriter(t.database.db);
    const marker = requestId('gc');
    const burst = Array.from({ length: 25 }, (_, i) =>
      writer.record({ action: 'test burst', outcome: 'allowed', requestId: `${marker}-${i}` }),
    );
    await Promise.all(burst);
    expect(writer.stats).toEqual({ events: 25, batches: 1, failedBatches: 0 });
    const rows = await queryRows<{ n: number }>(
      t.database.db,
      sql`select count(*)::int as n from ${auditEvents} where request_id like ${`${marker}-%`}`,
    );
    expect(rows[0]?.n).toBe(25);
  });

  it('batches what arrives during a write, and splits at the batch size', async () => {
    const writer = new AuditWriter(t.database.db, { maxBatch: 10 });
    const first = writer.record({ action: 'test', outcome: 'allowed' });
    await new Promise((r) => setImmediate(r)); // the first write is now in flight
    const more = Array.from({ length: 15 }, () => writer.record({ action: 'test', outcome: 'allowed' }));
    await Promise.all([first, ...more]);
    expect(writer.stats).toEqual({ events: 16, batches: 3, failedBatches: 0 });
  });

  it('rejects every event of a failed batch', async () => {
    const writer = new AuditWriter(t.database.db);
    const bad = writer.record({ action: 'test', outcome: 'allowed', patientIds: [3_000_000_000] });
    const good = writer.record({ action: 'test', outcome: 'allowed' });
    await expect(bad).rejects.toBeDefined();
    await expect(good).rejects.toBeDefined();
    expect(writer.stats).toEqual({ events: 0, batches: 1, failedBatches: 1 });
  });
});
