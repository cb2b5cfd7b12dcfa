import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../src/db/database.js';
import { serializeError } from '../src/http/server-options.js';
import { createTestApp, type TestApp, uniqueEmail } from './helpers/app.js';
import { expectProblem, expectValidation } from './helpers/problem.js';
import { newPatient, newReading } from './helpers/security.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: { BODY_LIMIT_BYTES: '1024' } });
});
afterAll(async () => {
  await t?.close();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function newPatientPayload(overrides: Record<string, unknown> = {}) {
  return { name: 'Error Tester', dob: '1990-01-01', gender: 'male', email: uniqueEmail('err'), ...overrides };
}

describe('problem details for every error', () => {
  it('400 for malformed JSON', async () => {
    const res = await t.call(t.adminKey, {
      method: 'POST',
      url: '/api/v1/patients',
      headers: { 'content-type': 'application/json' },
      payload: '{"name": "x",',
    });
    expectProblem(res, {
      status: 400,
      code: 'malformed_body',
      detail: 'The request body is not valid JSON',
      instance: '/api/v1/patients',
    });
  });

  it('400 for malformed JSON that is not empty, prototype poisoning included', async () => {
    for (const payload of [' ', '{"__proto__": {"x": 1}}', '{"constructor": {"prototype": {"x": 1}}}']) {
      const res = await t.call(t.adminKey, {
        method: 'DELETE',
        url: '/api/v1/biometrics/1',
        headers: { 'content-type': 'application/json' },
        payload,
      });
      expectProblem(res, {
        status: 400,
        code: 'malformed_body',
        detail: 'The request body is not valid JSON',
        instance: '/api/v1/biometrics/1',
      });
    }
  });

  it('401 without a key, with a bad key and with a key in the URL, whatever else is wrong', async () => {
    const noKey = await t.call(null, { method: 'POST', url: '/api/v1/patients', payload: { nonsense: true } });
    expectProblem(noKey, {
      status: 401,
      code: 'unauthorized',
      detail: 'A valid API key is required',
      instance: '/api/v1/patients',
    });
    expect(noKey.headers['www-authenticate']).toBe('Bearer realm="patientpulse"');

    const badKey = await t.call('pp_notakey_0000000000000000000000000000000000000000000', {
      method: 'GET',
      url: '/api/v1/patients/abc',
    });
    expectProblem(badKey, {
      status: 401,
      code: 'unauthorized',
      detail: 'The API key is not valid, expired or revoked',
      instance: '/api/v1/patients/abc',
    });

    const inUrl = await t.call(null, { method: 'GET', url: `/api/v1/patients?api_key=${t.adminKey}` });
    expectProblem(inUrl, {
      status: 401,
      code: 'key_in_query',
      detail: 'API keys are not accepted in the URL; send them in the Authorization or X-API-Key header',
      instance: '/api/v1/patients',
    });
  });

  it('accepts the key in X-API-Key too', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/patients', headers: { 'x-api-key': t.adminKey } });
    expect(res.statusCode).toBe(200);
  });

  it('404 for an unknown route, with or without a key', async () => {
    for (const key of [t.adminKey, null]) {
      const res = await t.call(key, { method: 'GET', url: '/api/v1/nothing-here?x=1' });
      expectProblem(res, {
        status: 404,
        code: 'not_found',
        detail: 'No route matches GET on this path',
        instance: '/api/v1/nothing-here',
      });
    }
    const outside = await t.app.inject({ method: 'GET', url: '/favicon.ico' });
    expectProblem(outside, {
      status: 404,
      code: 'not_found',
      detail: 'No route matches GET on this path',
      instance: '/favicon.ico',
    });
  });

  it('404 for a missing resource', async () => {
    const res = await t.call(t.adminKey, { method: 'GET', url: '/api/v1/patients/2147483647' });
    expectProblem(res, {
      status: 404,
      code: 'not_found',
      detail: 'Patient not found',
      instance: '/api/v1/patients/2147483647',
    });
  });

  it('405 with an Allow header for a known path and another method', async () => {
    const res = await t.call(t.adminKey, { method: 'PUT', url: '/api/v1/patients/1', payload: {} });
    expectProblem(res, {
      status: 405,
      code: 'method_not_allowed',
      detail: 'PUT is not allowed on this path; allowed: DELETE, GET, HEAD, PATCH',
      instance: '/api/v1/patients/1',
    });
    expect(res.headers.allow).toBe('DELETE, GET, HEAD, PATCH');

    const list = await t.call(t.adminKey, { method: 'DELETE', url: '/api/v1/patients/' });
    expect(list.statusCode).toBe(405);
    expect(list.headers.allow).toBe('GET, HEAD, POST');

    const readings = await t.call(t.adminKey, { method: 'GET', url: '/api/v1/biometrics/5' });
    expect(readings.statusCode).toBe(405);
    expect(readings.headers.allow).toBe('DELETE');
  });

  it('414 for a path parameter too long for the router, 400 for broken percent-encoding', async () => {
    const id = '1'.repeat(201);
    expectProblem(await t.call(t.adminKey, { method: 'GET', url: `/api/v1/patients/${id}` }), {
      status: 414,
      code: 'path_too_long',
      detail: 'A path segment is longer than 200 characters',
      instance: `/api/v1/patients/${id}`,
    });
    expectProblem(await t.call(t.adminKey, { method: 'GET', url: '/api/v1/patients/%E0%A4%A' }), {
      status: 400,
      code: 'bad_url',
      detail: 'The URL is not valid (malformed percent-encoding)',
      instance: '/api/v1/patients/%E0%A4%A',
    });
  });

  it('413 for a body over BODY_LIMIT_BYTES', async () => {
    const res = await t.call(t.adminKey, {
      method: 'POST',
      url: '/api/v1/patients',
      payload: newPatientPayload({ address: 'x'.repeat(2000) }),
    });
    expectProblem(res, {
      status: 413,
      code: 'body_too_large',
      detail: 'The request body is larger than allowed',
      instance: '/api/v1/patients',
    });
  });

  it.each(['text/plain', 'application/xml', 'application/x-www-form-urlencoded'])('415 for a %s body', async (type) => {
    const res = await t.call(t.adminKey, {
      method: 'POST',
      url: '/api/v1/patients',
      headers: { 'content-type': type },
      payload: 'name=x',
    });
    expectProblem(res, {
      status: 415,
      code: 'unsupported_media_type',
      detail: 'This content type is not accepted here',
      instance: '/api/v1/patients',
    });
  });

  it('422 with every invalid field named', async () => {
    const res = await t.call(t.adminKey, {
      method: 'POST',
      url: '/api/v1/patients',
      payload: { name: '  ', dob: '1990-02-30', gender: 'x', email: 'nope', phone: 'call me', extra: 1 },
    });
    expectValidation(res, '/api/v1/patients', [
      { field: 'body.extra', message: 'is not an allowed property' },
      {
        field: 'body.name',
        message: 'must be a name with at least one visible character (surrounding spaces are trimmed)',
      },
      { field: 'body.dob', message: 'must be a real calendar date in the form YYYY-MM-DD' },
      { field: 'body.gender', message: 'must be male, female or other (any letter case; stored in lower case)' },
      { field: 'body.email', message: 'must be a valid email address' },
      { field: 'body.phone', message: 'must be a phone number made of digits, spaces and + ( ) . / x -' },
    ]);
  });

  it('422 naming the query and path fields', async () => {
    expectValidation(
      await t.call(t.adminKey, { method: 'GET', url: '/api/v1/patients?size=0&page=-1' }),
      '/api/v1/patients',
      [
        { field: 'query.page', message: 'must be >= 1' },
        { field: 'query.size', message: 'must be >= 1' },
      ],
    );
    expectValidation(await t.call(t.adminKey, { method: 'GET', url: '/api/v1/patients/x' }), '/api/v1/patients/x', [
      { field: 'path.id', message: 'must be integer' },
    ]);
  });

  it('422, not 500, for a NUL character anywhere', async () => {
    const body = await t.call(t.adminKey, {
      method: 'POST',
      url: '/api/v1/patients',
      payload: newPatientPayload({ name: 'Ana\u0000Souza', address: 'Rua\u0000 1' }),
    });
    expectValidation(body, '/api/v1/patients', [
      { field: 'body.name', message: 'must not contain NUL characters or unpaired surrogate code units' },
    ]);
    const query = await t.call(t.adminKey, { method: 'GET', url: '/api/v1/patients?search=a%00b' });
    expectValidation(query, '/api/v1/patients', [
      { field: 'query.search', message: 'must not contain NUL characters or unpaired surrogate code units' },
    ]);
  });

  it('422, not a stack overflow, for a body nested 100,000 levels deep', async () => {
    const depth = 100_000;
    const big = await createTestApp(); // the default 1 MiB body limit
    try {
      const res = await big.call(big.adminKey, {
        method: 'POST',
        url: '/api/v1/biometrics',
        headers: { 'content-type': 'application/json' },
        payload: `{"extra":${'['.repeat(depth)}"a\\u0000"${']'.repeat(depth)}}`,
      });
      expect(res.statusCode).toBe(422);
      const [first] = res.json().errors;
      expect(first.message).toBe('must not contain NUL characters or unpaired surrogate code units');
      expect(first.field).toBe(`body.extra.${Array(depth).fill('0').join('.')}`);
    } finally {
      await big.close();
    }
  });

  it('HEAD answers like GET without a body', async () => {
    const res = await t.call(t.adminKey, { method: 'HEAD', url: '/api/v1/patients' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('');
    const denied = await t.call(null, { method: 'HEAD', url: '/api/v1/patients' });
    expect(denied.statusCode).toBe(401);
    expect(denied.body).toBe('');
  });
});

describe('a zero-length body sent as application/json', () => {
  // Many clients set this header on every request; an empty body then means no body.
  const JSON_HEADERS = { 'content-type': 'application/json' };

  async function counts(patientId: number) {
    const [row] = await queryRows<{ patients: number; readings: number; buffer: number }>(
      t.database.db,
      sql`select
        (select count(*)::int from patients where id = ${patientId}) as patients,
        (select count(*)::int from biometrics where patient_id = ${patientId}) as readings,
        (select count(*)::int from biometrics_hourly where patient_id = ${patientId}) as buffer`,
    );
    return row;
  }

  it('is no body for DELETE /biometrics/{id}', async () => {
    const p = await newPatient(t);
    const r = await newReading(t, p.id);
    const res = await t.call(t.adminKey, {
      method: 'DELETE',
      url: `/api/v1/biometrics/${r.id}`,
      headers: JSON_HEADERS,
      payload: '',
    });
    expect({ status: res.statusCode, body: res.json() }).toEqual({
      status: 200,
      body: { ok: true, deleted_id: r.id },
    });
    const rows = await queryRows(t.database.db, sql`select id from biometrics where id = ${r.id}`);
    expect(rows).toEqual([]);
  });

  it('is no body for DELETE /patients/{id}, with a charset too', async () => {
    const p = await newPatient(t);
    await newReading(t, p.id);
    const res = await t.call(t.adminKey, {
      method: 'DELETE',
      url: `/api/v1/patients/${p.id}`,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      payload: '',
    });
    expect({ status: res.statusCode, body: res.json() }).toEqual({
      status: 200,
      body: { ok: true, deleted_id: p.id, readings_deleted: 1 },
    });
    expect(await counts(p.id)).toEqual({ patients: 0, readings: 0, buffer: 0 });
  });

  it('is no body for POST /analytics/run (the configured engine runs)', async () => {
    const res = await t.call(t.adminKey, {
      method: 'POST',
      url: '/api/v1/analytics/run',
      headers: JSON_HEADERS,
      payload: '',
    });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    const [row] = await queryRows<Record<string, unknown>>(
      t.database.db,
      sql`select id::int, version, trigger, instance, status,
        to_char(started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as started_at,
        to_char(finished_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as finished_at,
        buckets_touched::int, rows_consumed::int, error
        from analytics_runs where id = ${body.id}`,
    );
    expect(row).toMatchObject({ version: t.config.analyticsVersion, trigger: 'manual', status: 'succeeded' });
    expect(body).toEqual(row);
  });

  it('is a 422 validation problem on routes that need a body, and writes nothing', async () => {
    const p = await newPatient(t);
    const before = await counts(p.id);
    const post = await t.call(t.adminKey, {
      method: 'POST',
      url: '/api/v1/biometrics',
      headers: JSON_HEADERS,
      payload: '',
    });
    expectValidation(post, '/api/v1/biometrics', [{ field: 'body', message: 'must be object' }]);
    const patch = await t.call(t.adminKey, {
      method: 'PATCH',
      url: `/api/v1/patients/${p.id}`,
      headers: JSON_HEADERS,
      payload: '',
    });
    expectValidation(patch, `/api/v1/patients/${p.id}`, [{ field: 'body', message: 'must be object' }]);
    expect(await counts(p.id)).toEqual(before);
  });
});

describe('request ids', () => {
  it('generates one per request and returns it in the header and the body', async () => {
    const a = await t.call(t.adminKey, { method: 'GET', url: '/api/v1/patients/0' });
    const b = await t.call(t.adminKey, { method: 'GET', url: '/api/v1/patients/0' });
    expect(a.headers['x-request-id']).toMatch(UUID);
    expect(a.json().request_id).toBe(a.headers['x-request-id']);
    expect(b.headers['x-request-id']).not.toBe(a.headers['x-request-id']);
  });

  it('honours a well-formed incoming X-Request-Id', async () => {
    const res = await t.call(t.adminKey, {
      method: 'GET',
      url: '/api/v1/patients/0',
      headers: { 'x-request-id': 'gateway-7f3a:42' },
    });
    expect(res.headers['x-request-id']).toBe('gateway-7f3a:42');
    expect(res.json().request_id).toBe('gateway-7f3a:42');
  });

  it.each(['has spaces', 'x'.repeat(129), '<script>', ''])('replaces the unusable incoming id %j', async (incoming) => {
    const res = await t.call(t.adminKey, {
      method: 'GET',
      url: '/api/v1/patients/0',
      headers: { 'x-request-id': incoming },
    });
    expect(res.headers['x-request-id']).toMatch(UUID);
    expect(res.json().request_id).toBe(res.headers['x-request-id']);
  });
});

describe('server errors reveal nothing', () => {
  it('500 without stack, SQL or values when a query fails', async () => {
    await t.database.db.execute(sql`alter table patients rename to patients_moved`);
    try {
      const res = await t.call(t.adminKey, { method: 'GET', url: '/api/v1/patients?search=Souza' });
      expectProblem(res, {
        status: 500,
        code: 'internal_error',
        detail: 'An unexpected error occurred; it has been logged',
        instance: '/api/v1/patients',
      });
      expect(res.body).not.toMatch(/select|patients_moved|Souza|Failed query|\bat\b.*\.ts/i);
    } finally {
      await t.database.db.execute(sql`alter table patients_moved rename to patients`);
    }
  });

  it('503 with Retry-After once the database is closed', async () => {
    const own = await createTestApp();
    try {
      await own.database.close();
      for (const key of [own.adminKey, null]) {
        const res = await own.call(key, { method: 'GET', url: '/api/v1/patients' });
        expectProblem(res, {
          status: 503,
          code: 'database_unavailable',
          detail: 'The database is unavailable; retry shortly',
          instance: '/api/v1/patients',
        });
        expect(res.headers['retry-after']).toBe('2');
      }
    } finally {
      await own.app.close();
    }
  });

  it('logs failed queries without their values', async () => {
    let failure: unknown;
    try {
      await t.database.db.execute(sql`select ${'Ana Souza'}::int as n, ${'ana@example.org'}::text as e`);
    } catch (err) {
      failure = err;
    }
    expect(failure).toBeInstanceOf(Error);
    const logged = serializeError(failure as Error);
    const text = JSON.stringify(logged);
    expect(text).not.toContain('Ana Souza');
    expect(text).not.toContain('ana@example.org');
    expect(logged).toMatchObject({ message: 'database error 22P02', sqlState: '22P02' });
  });

  it('keeps the messages of other errors', () => {
    const err = Object.assign(new Error('boom'), { code: 'E_X', statusCode: 500 });
    expect(serializeError(err)).toEqual({
      type: 'Error',
      code: 'E_X',
      message: 'boom',
      statusCode: 500,
      stack: expect.stringContaining('    at '),
    });
  });
});
