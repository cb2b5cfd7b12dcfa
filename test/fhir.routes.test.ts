import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp, uniqueEmail } from './helpers/app.js';
import { auditEventsFor, requestId } from './helpers/security.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const BASE = 'http://localhost:80/fhir';

async function newPatient(fields: Record<string, unknown> = {}) {
  const res = await t.call(t.adminKey, {
    method: 'POST',
    url: '/api/v1/patients',
    payload: { name: 'Ana Souza', dob: '1980-05-12', gender: 'female', email: uniqueEmail('fhir'), ...fields },
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { id: number; email: string };
}

async function reading(patientId: number, type: string, timestamp: string, value: number, unit?: string) {
  const res = await t.call(t.adminKey, {
    method: 'POST',
    url: '/api/v1/biometrics',
    payload: { patient_id: patientId, type, timestamp, value, ...(unit ? { unit } : {}) },
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { id: number };
}

function get(key: string | null, url: string, headers: Record<string, string> = {}) {
  return t.call(key, { method: 'GET', url, headers: { 'x-request-id': requestId('fhir'), ...headers } });
}

function outcome(code: string, text: string, rid: string) {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code, details: { text }, diagnostics: `request_id=${rid}; code=${codeOf(code)}` }],
  };
}
function codeOf(issue: string): string {
  return (
    { 'not-found': 'not_found', login: 'unauthorized', forbidden: 'forbidden', 'not-supported': 'not_acceptable' }[
      issue
    ] ?? issue
  );
}

describe('GET /fhir/metadata', () => {
  it('is public and describes the Patient and Observation interactions', async () => {
    const res = await get(null, '/fhir/metadata');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe(FHIR_JSON);
    const body = res.json();
    expect(body).toMatchObject({
      resourceType: 'CapabilityStatement',
      status: 'active',
      kind: 'instance',
      fhirVersion: '4.0.1',
      format: ['json'],
    });
    expect(body.rest).toHaveLength(1);
    expect(body.rest[0].mode).toBe('server');
    expect(body.rest[0].security.description).toContain('Bearer');
    expect(
      body.rest[0].resource.map((r: { type: string; searchParam: { name: string }[] }) => [
        r.type,
        r.searchParam.map((p) => p.name),
      ]),
    ).toEqual([
      ['Patient', ['_id', 'identifier', '_count', 'page']],
      ['Observation', ['patient', 'code', 'date', '_count', 'page']],
    ]);
    // Public: no audit event.
    expect(await auditEventsFor(t.database.db, String(res.headers['x-request-id']))).toEqual([]);
  });

  it('answers 406 OperationOutcome for XML, by Accept or _format', async () => {
    for (const [url, headers] of [
      ['/fhir/metadata', { accept: 'application/fhir+xml' }],
      ['/fhir/metadata?_format=xml', {}],
    ] as const) {
      const res = await get(null, url, headers);
      expect(res.statusCode).toBe(406);
      expect(res.headers['content-type']).toBe(FHIR_JSON);
      expect(res.json()).toEqual(
        outcome(
          'not-supported',
          'Only FHIR JSON (application/fhir+json) is served',
          String(res.headers['x-request-id']),
        ),
      );
    }
    for (const accept of ['application/fhir+json', 'application/json', '*/*', 'application/json+fhir;q=0.9']) {
      expect((await get(null, '/fhir/metadata', { accept })).statusCode).toBe(200);
    }
    expect((await get(null, '/fhir/metadata?_format=json')).statusCode).toBe(200);
  });
});

describe('GET /fhir/Patient', () => {
  it('reads a patient as a FHIR Patient and audits it', async () => {
    const p = await newPatient({ gender: 'FEMALE', phone: '+1 555 0100', address: '1 Main St' });
    const res = await get(t.adminKey, `/fhir/Patient/${p.id}`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe(FHIR_JSON);
    expect(res.json()).toEqual({
      resourceType: 'Patient',
      id: String(p.id),
      identifier: [{ system: 'mailto:', value: p.email }],
      name: [{ text: 'Ana Souza' }],
      telecom: [
        { system: 'phone', value: '+1 555 0100' },
        { system: 'email', value: p.email },
      ],
      gender: 'female',
      birthDate: '1980-05-12',
      address: [{ text: '1 Main St' }],
    });
    const events = await auditEventsFor(t.database.db, String(res.headers['x-request-id']));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      action: 'GET /fhir/Patient/:id',
      status: 200,
      outcome: 'allowed',
      patientIds: [p.id],
      recordIds: null,
    });
  });

  it('answers 404 OperationOutcome for unknown ids, ids that cannot exist and patients outside the scope', async () => {
    const mine = await newPatient();
    const other = await newPatient();
    const scoped = await t.key('reader', [mine.id]);
    for (const [key, id] of [
      [t.adminKey, '2000000000'],
      [t.adminKey, 'abc'],
      [scoped, String(other.id)],
    ] as const) {
      const res = await get(key, `/fhir/Patient/${id}`);
      const rid = String(res.headers['x-request-id']);
      expect(res.statusCode).toBe(404);
      expect(res.headers['content-type']).toBe(FHIR_JSON);
      expect(res.json()).toEqual(outcome('not-found', 'Patient not found', rid));
      const [event] = await auditEventsFor(t.database.db, rid);
      expect(event).toMatchObject({ status: 404, outcome: 'not_found' });
    }
    expect((await get(scoped, `/fhir/Patient/${mine.id}`)).statusCode).toBe(200);
  });

  it('searches by _id and identifier, and pages a scoped list with exact totals and links', async () => {
    const a = await newPatient();
    const b = await newPatient({ gender: 'other' });
    const c = await newPatient();
    const res = await get(
      t.adminKey,
      `/fhir/Patient?identifier=${encodeURIComponent(`mailto:|${b.email.toUpperCase()}`)}`,
    );
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      resourceType: 'Bundle',
      type: 'searchset',
      total: 1,
      entry: [
        {
          fullUrl: `${BASE}/Patient/${b.id}`,
          resource: { id: String(b.id), gender: 'other' },
          search: { mode: 'match' },
        },
      ],
    });
    const byId = await get(t.adminKey, `/fhir/Patient?_id=${a.id}`);
    expect(byId.json().entry.map((e: { resource: { id: string } }) => e.resource.id)).toEqual([String(a.id)]);
    const wrongSystem = await get(t.adminKey, `/fhir/Patient?identifier=${encodeURIComponent(`urn:x|${b.email}`)}`);
    expect(wrongSystem.json()).toMatchObject({ total: 0, entry: [] });

    const scoped = await t.key('clinician', [a.id, b.id, c.id]);
    const page1 = await get(scoped, '/fhir/Patient?_count=2');
    expect(page1.statusCode).toBe(200);
    expect(page1.json()).toEqual({
      resourceType: 'Bundle',
      type: 'searchset',
      total: 3,
      link: [
        { relation: 'self', url: `${BASE}/Patient?_count=2&page=1` },
        { relation: 'next', url: `${BASE}/Patient?_count=2&page=2` },
      ],
      entry: [a, b].map((p) => ({
        fullUrl: `${BASE}/Patient/${p.id}`,
        resource: expect.objectContaining({ id: String(p.id) }),
        search: { mode: 'match' },
      })),
    });
    const page2 = await get(scoped, '/fhir/Patient?_count=2&page=2');
    expect(page2.json().entry.map((e: { resource: { id: string } }) => e.resource.id)).toEqual([String(c.id)]);
    expect(page2.json().link).toEqual([
      { relation: 'self', url: `${BASE}/Patient?_count=2&page=2` },
      { relation: 'previous', url: `${BASE}/Patient?_count=2&page=1` },
    ]);
    const [event] = await auditEventsFor(t.database.db, String(page1.headers['x-request-id']));
    expect(event).toMatchObject({ action: 'GET /fhir/Patient', status: 200, patientIds: [a.id, b.id] });
  });

  it('answers 401 OperationOutcome without a key and audits the refusal', async () => {
    const res = await get(null, '/fhir/Patient/1');
    const rid = String(res.headers['x-request-id']);
    expect(res.statusCode).toBe(401);
    expect(res.headers['content-type']).toBe(FHIR_JSON);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="patientpulse"');
    expect(res.json()).toEqual(outcome('login', 'A valid API key is required', rid));
    const [event] = await auditEventsFor(t.database.db, rid);
    expect(event).toMatchObject({ status: 401, outcome: 'denied' });
  });

  it('answers 403 OperationOutcome to a key whose role may not read patients', async () => {
    const res = await get(await t.key('device'), '/fhir/Patient');
    expect(res.statusCode).toBe(403);
    expect(res.json()).toEqual(
      outcome('forbidden', 'This API key is not allowed to do this', String(res.headers['x-request-id'])),
    );
  });
});

describe('/fhir errors', () => {
  it('answers unknown resource types 404 and writes 405, as OperationOutcome', async () => {
    const res = await get(t.adminKey, '/fhir/Encounter');
    expect(res.statusCode).toBe(404);
    expect(res.json().issue[0]).toMatchObject({ code: 'not-found' });
    const post = await t.call(t.adminKey, { method: 'POST', url: '/fhir/Patient', payload: {} });
    expect(post.statusCode).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect(post.json().issue[0]).toMatchObject({
      code: 'not-supported',
      details: { text: 'The FHIR interface is read-only' },
    });
  });

  it('keeps problem+json on /api/v1', async () => {
    const res = await get(null, '/api/v1/patients');
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });
});

describe('GET /fhir/Observation', () => {
  it('reads one reading as an Observation with LOINC and UCUM codes, scoped', async () => {
    const p = await newPatient();
    const r = await reading(p.id, 'systolic', '2025-05-24T08:30:00Z', 128);
    const res = await get(t.adminKey, `/fhir/Observation/${r.id}`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe(FHIR_JSON);
    expect(res.json()).toEqual({
      resourceType: 'Observation',
      id: String(r.id),
      status: 'final',
      category: [
        {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/observation-category',
              code: 'vital-signs',
              display: 'Vital Signs',
            },
          ],
        },
      ],
      code: {
        coding: [{ system: 'http://loinc.org', code: '8480-6', display: 'Systolic blood pressure' }],
        text: 'Systolic blood pressure',
      },
      subject: { reference: `Patient/${p.id}` },
      effectiveDateTime: '2025-05-24T08:30:00.000Z',
      valueQuantity: { value: 128, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
    });
    const [event] = await auditEventsFor(t.database.db, String(res.headers['x-request-id']));
    expect(event).toMatchObject({
      action: 'GET /fhir/Observation/:id',
      status: 200,
      patientIds: [p.id],
      recordIds: [r.id],
    });

    const other = await newPatient();
    const scoped = await t.key('reader', [other.id]);
    const hidden = await get(scoped, `/fhir/Observation/${r.id}`);
    expect(hidden.statusCode).toBe(404);
    expect(hidden.json()).toEqual(
      outcome('not-found', 'Observation not found', String(hidden.headers['x-request-id'])),
    );
    expect((await get(t.adminKey, '/fhir/Observation/900000000000')).statusCode).toBe(404);
  });

  it('searches newest first with code and date filters, exact totals and next links', async () => {
    const p = await newPatient();
    const g1 = await reading(p.id, 'glucose', '2025-05-24T08:00:00Z', 95);
    const w = await reading(p.id, 'weight', '2025-05-24T09:00:00Z', 160, 'lb');
    const g2 = await reading(p.id, 'glucose', '2025-05-25T08:00:00Z', 110);
    const g3 = await reading(p.id, 'glucose', '2025-05-26T08:00:00Z', 120);

    const all = await get(t.adminKey, `/fhir/Observation?patient=Patient/${p.id}&_count=3`);
    expect(all.statusCode).toBe(200);
    const body = all.json();
    expect(body.total).toBe(4);
    expect(body.entry.map((e: { resource: { id: string } }) => e.resource.id)).toEqual(
      [g3, g2, w].map((r) => String(r.id)),
    );
    expect(body.entry[2]).toEqual({
      fullUrl: `${BASE}/Observation/${w.id}`,
      resource: expect.objectContaining({
        category: [expect.objectContaining({ coding: [expect.objectContaining({ code: 'vital-signs' })] })],
        code: expect.objectContaining({
          coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }],
        }),
        valueQuantity: { value: 72.57477920000001, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
      }),
      search: { mode: 'match' },
    });
    const self = `${BASE}/Observation?patient=Patient%2F${p.id}&_count=3`;
    expect(body.link).toEqual([
      { relation: 'self', url: `${self}&page=1` },
      { relation: 'next', url: `${self}&page=2` },
    ]);
    const next = await get(t.adminKey, body.link[1].url.slice('http://localhost:80'.length));
    expect(next.json().entry.map((e: { resource: { id: string } }) => e.resource.id)).toEqual([String(g1.id)]);
    const [event] = await auditEventsFor(t.database.db, String(all.headers['x-request-id']));
    expect(event).toMatchObject({
      action: 'GET /fhir/Observation',
      status: 200,
      outcome: 'allowed',
      patientIds: [p.id],
      recordIds: [g3.id, g2.id, w.id],
    });

    const glucose = await get(t.adminKey, `/fhir/Observation?patient=${p.id}&code=http://loinc.org|2339-0`);
    expect(glucose.json().total).toBe(3);
    expect(glucose.json().entry[0].resource).toMatchObject({
      category: [{ coding: [{ code: 'laboratory', display: 'Laboratory' }] }],
      code: { coding: [{ code: '2339-0', display: 'Glucose [Mass/volume] in Blood' }] },
      valueQuantity: { value: 120, unit: 'mg/dL', code: 'mg/dL' },
    });
    const ids = async (query: string) => {
      const res = await get(t.adminKey, `/fhir/Observation?patient=${p.id}&${query}`);
      expect(res.statusCode, res.body).toBe(200);
      return {
        total: res.json().total,
        ids: res.json().entry.map((e: { resource: { id: string } }) => Number(e.resource.id)),
      };
    };
    expect(await ids('code=2339-0&date=ge2025-05-25')).toEqual({ total: 2, ids: [g3.id, g2.id] });
    expect(await ids('date=2025-05-24')).toEqual({ total: 2, ids: [w.id, g1.id] });
    expect(await ids('date=gt2025-05-24T08:00:00Z&date=lt2025-05-26')).toEqual({ total: 2, ids: [g2.id, w.id] });
    expect(await ids('date=le2025-05-24T08:00:00Z')).toEqual({ total: 1, ids: [g1.id] });
    expect(await ids('date=eq2025-05-25T08:00:00Z')).toEqual({ total: 1, ids: [g2.id] });
    expect(await ids('code=8480-6')).toEqual({ total: 0, ids: [] });
    expect(await ids('code=http://snomed.info/sct|2339-0')).toEqual({ total: 0, ids: [] });
    expect(await ids('date=gt2025-05-27&date=lt2025-05-20')).toEqual({ total: 0, ids: [] });
  });

  it('refuses a missing patient or a bad date with 400, and hides patients outside the scope', async () => {
    const missing = await get(t.adminKey, '/fhir/Observation');
    expect(missing.statusCode).toBe(400);
    expect(missing.json().issue[0]).toMatchObject({ code: 'invalid', expression: ['query.patient'] });
    const p = await newPatient();
    const bad = await get(t.adminKey, `/fhir/Observation?patient=${p.id}&date=sa2025-01-01`);
    const rid = String(bad.headers['x-request-id']);
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual({
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'invalid',
          details: { text: 'query.date the prefix sa is not supported' },
          diagnostics: `request_id=${rid}; code=validation_failed`,
          expression: ['query.date'],
        },
      ],
    });
    const [event] = await auditEventsFor(t.database.db, rid);
    expect(event).toMatchObject({ status: 400, outcome: 'rejected', patientIds: [p.id] });

    const scoped = await t.key('reader', [p.id]);
    const other = await newPatient();
    for (const url of [`/fhir/Observation?patient=${other.id}`, `/fhir/Observation?patient=${other.id}&code=1-1`]) {
      const res = await get(scoped, url);
      expect(res.statusCode).toBe(404);
      expect(res.json()).toEqual(outcome('not-found', 'Patient not found', String(res.headers['x-request-id'])));
    }
    expect((await get(t.adminKey, '/fhir/Observation?patient=2000000000')).statusCode).toBe(404);
  });
});
