/**
 * Every route of the OpenAPI document, called with no key, a malformed key, an unknown
 * key, a revoked key, an expired key, a key in the query string and a key of each role.
 * The expected statuses live in ROUTES below: a route without an entry (or an entry
 * without a route) fails the suite, so a new endpoint cannot ship without its row.
 */
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../src/modules/keys/keys.roles.js';
import { createKey } from '../src/modules/keys/keys.service.js';
import { createTestApp, type TestApp, uniqueEmail } from './helpers/app.js';
import {
  expiredKey,
  newPatient,
  newReading,
  ROLE_LIST,
  revokedKey,
  uniqueTimestamp,
  unknownKey,
} from './helpers/security.js';

interface Fixtures {
  t: TestApp;
  /** The patient the `patient` role key is bound to. */
  patientId: number;
}

interface RouteCase {
  /** Builds a valid request; called once per caller, so destructive routes get fresh targets. */
  request(fx: Fixtures): Promise<InjectOptions> | InjectOptions;
  /** Status per role. Unauthenticated callers get 401 on every non-public route. */
  roles: Record<Role, number>;
  public?: boolean;
}

const all = (status: number): Record<Role, number> => ({
  admin: status,
  clinician: status,
  device: status,
  patient: status,
  reader: status,
  metrics: status,
});
const only = (ok: number, roles: Role[]): Record<Role, number> =>
  Object.fromEntries(ROLE_LIST.map((r) => [r, roles.includes(r) ? ok : 403])) as Record<Role, number>;

const READ_PATIENTS: Role[] = ['admin', 'clinician', 'patient', 'reader'];
const WRITE_PATIENTS: Role[] = ['admin', 'clinician'];
const WRITE_READINGS: Role[] = ['admin', 'clinician', 'device', 'patient'];

/** THE route table: "METHOD /path" exactly as in the OpenAPI document. */
const ROUTES: Record<string, RouteCase> = {
  'GET /healthz': { public: true, request: () => ({ method: 'GET', url: '/healthz' }), roles: all(200) },
  'GET /readyz': { public: true, request: () => ({ method: 'GET', url: '/readyz' }), roles: all(200) },
  'GET /api/v1/patients': {
    request: () => ({ method: 'GET', url: '/api/v1/patients' }),
    roles: only(200, READ_PATIENTS),
  },
  'POST /api/v1/patients': {
    request: () => ({
      method: 'POST',
      url: '/api/v1/patients',
      payload: { name: 'Route Table', dob: '1960-02-02', gender: 'female', email: uniqueEmail('rt') },
    }),
    roles: only(201, WRITE_PATIENTS),
  },
  'GET /api/v1/patients/{id}': {
    request: (fx) => ({ method: 'GET', url: `/api/v1/patients/${fx.patientId}` }),
    roles: only(200, READ_PATIENTS),
  },
  'PATCH /api/v1/patients/{id}': {
    request: (fx) => ({ method: 'PATCH', url: `/api/v1/patients/${fx.patientId}`, payload: { address: '2 Side St' } }),
    roles: only(200, WRITE_PATIENTS),
  },
  'DELETE /api/v1/patients/{id}': {
    request: async (fx) => ({ method: 'DELETE', url: `/api/v1/patients/${(await newPatient(fx.t)).id}` }),
    roles: only(200, WRITE_PATIENTS),
  },
  'GET /api/v1/biometrics': {
    request: (fx) => ({ method: 'GET', url: `/api/v1/biometrics?patient_id=${fx.patientId}` }),
    roles: only(200, READ_PATIENTS),
  },
  'POST /api/v1/biometrics': {
    request: (fx) => ({
      method: 'POST',
      url: '/api/v1/biometrics',
      payload: { patient_id: fx.patientId, timestamp: uniqueTimestamp(), type: 'weight', value: 71.5 },
    }),
    roles: only(200, WRITE_READINGS),
  },
  'DELETE /api/v1/biometrics/{id}': {
    request: async (fx) => ({
      method: 'DELETE',
      url: `/api/v1/biometrics/${(await newReading(fx.t, fx.patientId)).id}`,
    }),
    roles: only(200, WRITE_READINGS),
  },
  'GET /api/v1/analytics': {
    request: () => ({ method: 'GET', url: '/api/v1/analytics' }),
    roles: only(200, READ_PATIENTS),
  },
  'POST /api/v1/keys': {
    request: () => ({ method: 'POST', url: '/api/v1/keys', payload: { name: 'route table', role: 'reader' } }),
    roles: only(201, ['admin']),
  },
  'GET /api/v1/keys': { request: () => ({ method: 'GET', url: '/api/v1/keys' }), roles: only(200, ['admin']) },
  'DELETE /api/v1/keys/{id}': {
    request: async (fx) => {
      const { info } = await createKey({ db: fx.t.database.db }, { name: 'to revoke', role: 'reader' });
      return { method: 'DELETE', url: `/api/v1/keys/${info.id}` };
    },
    roles: only(200, ['admin']),
  },
  'GET /api/v1/audit': { request: () => ({ method: 'GET', url: '/api/v1/audit' }), roles: only(200, ['admin']) },
  'POST /api/v1/analytics/run': {
    request: () => ({ method: 'POST', url: '/api/v1/analytics/run', payload: { version: 2 } }),
    roles: only(200, ['admin']),
  },
  'GET /api/v1/analytics/runs': {
    request: () => ({ method: 'GET', url: '/api/v1/analytics/runs' }),
    roles: only(200, ['admin']),
  },
  'GET /api/v1/me': { request: () => ({ method: 'GET', url: '/api/v1/me' }), roles: only(200, READ_PATIENTS) },
  'GET /api/v1/patients/summary': {
    request: () => ({ method: 'GET', url: '/api/v1/patients/summary' }),
    roles: only(200, READ_PATIENTS),
  },
  'GET /api/v1/patients/{id}/summary': {
    request: (fx) => ({ method: 'GET', url: `/api/v1/patients/${fx.patientId}/summary` }),
    roles: only(200, READ_PATIENTS),
  },
  'GET /api/v1/biometrics/series': {
    request: (fx) => ({
      method: 'GET',
      url: `/api/v1/biometrics/series?patient_id=${fx.patientId}&from=2025-01-01T00:00:00Z&to=2025-01-02T00:00:00Z`,
    }),
    roles: only(200, READ_PATIENTS),
  },
  'POST /api/v1/biometrics/bulk': {
    request: (fx) => ({
      method: 'POST',
      url: '/api/v1/biometrics/bulk',
      payload: [{ patient_id: fx.patientId, timestamp: uniqueTimestamp(), type: 'weight', value: 70.5 }],
    }),
    roles: only(200, WRITE_READINGS),
  },
  'GET /fhir/metadata': { public: true, request: () => ({ method: 'GET', url: '/fhir/metadata' }), roles: all(200) },
  'GET /fhir/Patient': { request: () => ({ method: 'GET', url: '/fhir/Patient' }), roles: only(200, READ_PATIENTS) },
  'GET /fhir/Patient/{id}': {
    request: (fx) => ({ method: 'GET', url: `/fhir/Patient/${fx.patientId}` }),
    roles: only(200, READ_PATIENTS),
  },
  'GET /fhir/Observation': {
    request: (fx) => ({ method: 'GET', url: `/fhir/Observation?patient=${fx.patientId}` }),
    roles: only(200, READ_PATIENTS),
  },
  'GET /fhir/Observation/{id}': {
    request: async (fx) => ({ method: 'GET', url: `/fhir/Observation/${(await newReading(fx.t, fx.patientId)).id}` }),
    roles: only(200, READ_PATIENTS),
  },
  'GET /metrics': { request: () => ({ method: 'GET', url: '/metrics' }), roles: only(200, ['admin', 'metrics']) },
};

let t: TestApp;
let fx: Fixtures;
const keys = {} as Record<Role, string>;
let spec: { paths: Record<string, Record<string, unknown>> };

beforeAll(async () => {
  t = await createTestApp();
  const p = await newPatient(t);
  fx = { t, patientId: p.id };
  for (const role of ROLE_LIST) {
    keys[role] = role === 'admin' ? t.adminKey : await t.key(role, role === 'patient' ? [p.id] : null);
  }
  spec = t.app.swagger() as unknown as typeof spec;
});
afterAll(async () => {
  await t?.close();
});

function specRoutes(): string[] {
  const methods = ['get', 'post', 'put', 'patch', 'delete', 'head', 'options'];
  return Object.entries(spec.paths).flatMap(([path, ops]) =>
    Object.keys(ops)
      .filter((m) => methods.includes(m))
      .map((m) => `${m.toUpperCase()} ${path}`),
  );
}

/** Turns "GET /api/v1/patients/{id}" into a probe request with any id. */
function probe(route: string): InjectOptions {
  const [method, path] = route.split(' ') as [InjectOptions['method'], string];
  return { method, url: path.replaceAll(/\{[^}]+\}/g, '2000000000') };
}

/** A refusal: problem+json, or an OperationOutcome carrying the same code on /fhir routes. */
function expectRefusal(route: string, res: LightMyRequestResponse, status: number, code: string): void {
  if (route.split(' ')[1]?.startsWith('/fhir/')) {
    expect(res.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
    expect(res.json()).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: status === 401 ? 'login' : 'forbidden',
          diagnostics: expect.stringContaining(`code=${code}`),
        },
      ],
    });
    return;
  }
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.json()).toMatchObject({ status, code, request_id: expect.any(String) });
}

describe('route table', () => {
  it('has exactly one entry per route of the OpenAPI document', () => {
    const documented = specRoutes().sort();
    expect(documented.length).toBeGreaterThan(0);
    expect(Object.keys(ROUTES).sort()).toEqual(documented);
  });

  it('documents every route that requires a key', () => {
    const documented = new Set(specRoutes());
    for (const [route, c] of Object.entries(ROUTES)) {
      if (!c.public) expect(documented.has(route), route).toBe(true);
    }
  });
});

describe.each(Object.entries(ROUTES))('%s', (route, c) => {
  const states: [string, () => Promise<string | null> | string | null][] = [
    ['no key', () => null],
    ['a malformed key', () => 'not a key at all'],
    ['an unknown key', () => unknownKey()],
    ['a revoked key', () => revokedKey(t.database.db)],
    ['an expired key', () => expiredKey(t.database.db)],
  ];

  it.each(states)('with %s', async (_label, keyOf) => {
    const key = await keyOf();
    const req = c.public ? await c.request(fx) : probe(route);
    const res = await t.call(key, req);
    if (c.public) {
      expect(res.statusCode).toBe(200);
      return;
    }
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="patientpulse"');
    expectRefusal(route, res, 401, 'unauthorized');
  });

  it.each(ROLE_LIST)('with a %s key', async (role) => {
    const res = await t.call(keys[role], await c.request(fx));
    expect(res.statusCode, res.body).toBe(c.roles[role]);
    if (res.statusCode === 403) expectRefusal(route, res, 403, 'forbidden');
    if (!c.public) expect(res.headers['cache-control']).toBe('no-store');
  });

  if (!c.public) {
    it('refuses a key in the query string, even next to a valid header', async () => {
      const base = probe(route);
      for (const q of [`api_key=${keys.admin}`, `token=${keys.admin}`, `x=${encodeURIComponent(keys.admin)}`]) {
        const url = `${base.url}${String(base.url).includes('?') ? '&' : '?'}${q}`;
        const res = await t.call(keys.admin, { ...base, url });
        expect(res.statusCode).toBe(401);
        expectRefusal(route, res, 401, 'key_in_query');
        expect(res.body).not.toContain(keys.admin);
      }
    });
  }

  if (route.startsWith('GET ') && !c.public) {
    it('guards the HEAD twin of the GET route too', async () => {
      const res = await t.call(null, { ...probe(route), method: 'HEAD' });
      expect(res.statusCode).toBe(401);
      expect(res.body).toBe('');
    });
  }
});
