/**
 * Bad input corpus against every write body and every filter: malformed JSON, prototype
 * pollution, wrong types, extreme numbers, NUL bytes and odd Unicode, SQL-injection text,
 * oversized bodies. Never a 5xx, and nothing is written when the input is refused.
 */
import { sql } from 'drizzle-orm';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../src/db/database.js';
import { createTestApp, type TestApp, uniqueEmail } from './helpers/app.js';
import { newPatient, newReading, uniqueTimestamp } from './helpers/security.js';

let t: TestApp;
let P: { id: number };
let readingId: number;

beforeAll(async () => {
  t = await createTestApp({ env: { BODY_LIMIT_BYTES: '8192' } });
  P = await newPatient(t);
  readingId = (await newReading(t, P.id)).id;
});
afterAll(async () => {
  await t?.close();
});

/** Row counts and a fingerprint of every table a request could write. */
async function state() {
  const [row] = await queryRows<Record<string, unknown>>(
    t.database.db,
    sql`select
      (select count(*)::int from patients) as patients,
      (select md5(coalesce(string_agg(p::text, '|' order by id), '')) from patients p) as patients_md5,
      (select count(*)::int from biometrics) as biometrics,
      (select md5(coalesce(string_agg(b::text, '|' order by id), '')) from biometrics b) as biometrics_md5,
      (select count(*)::int from biometrics_hourly) as buffer,
      (select count(*)::int from api_keys) as keys`,
  );
  return row;
}

const validPatient = () => ({ name: 'Valid Name', dob: '1980-01-01', gender: 'female', email: uniqueEmail('bad') });
const validReading = () => ({ patient_id: P.id, timestamp: uniqueTimestamp(), type: 'glucose', value: 100 });

/** The write endpoints and a valid body for each. */
const WRITES: { name: string; method: InjectOptions['method']; url: () => string; valid: () => object }[] = [
  { name: 'POST /patients', method: 'POST', url: () => '/api/v1/patients', valid: validPatient },
  {
    name: 'PATCH /patients/:id',
    method: 'PATCH',
    url: () => `/api/v1/patients/${P.id}`,
    valid: () => ({ phone: '1' }),
  },
  { name: 'POST /biometrics', method: 'POST', url: () => '/api/v1/biometrics', valid: validReading },
  { name: 'POST /keys', method: 'POST', url: () => '/api/v1/keys', valid: () => ({ name: 'k', role: 'reader' }) },
];

const MALFORMED_JSON = [
  '{',
  '{"name": }',
  '{"name": "x",}',
  "{'name': 'x'}",
  '{"name": "x"} trailing',
  'NaN',
  '',
  '\u0000',
  '{"a":1,"a":',
  '[',
  '"just a string"',
  'null',
  '[]',
  '12',
  `${'['.repeat(5000)}${']'.repeat(5000)}`,
];

/** Field-level poison merged into an otherwise valid body. */
const POISON: Record<string, unknown>[] = [
  JSON.parse('{"__proto__": {"isAdmin": true}}'),
  JSON.parse('{"constructor": {"prototype": {"isAdmin": true}}}'),
  { prototype: { x: 1 } },
  { role: 'admin', extra: 1 },
];

/** Replacement values tried in every field of every body. */
const BAD_VALUES: unknown[] = [
  null,
  true,
  [],
  {},
  [1, 2],
  1e308,
  -1e308,
  -0,
  0,
  -1,
  2147483648,
  Number.MAX_SAFE_INTEGER + 2,
  0.5,
  '',
  ' ',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  "'; DROP TABLE patients; --",
  'x'.repeat(5000),
];

describe.each(WRITES)('$name', (w) => {
  const send = (payload: string | object, headers: Record<string, string> = {}) =>
    t.call(t.adminKey, {
      method: w.method,
      url: w.url(),
      headers: { 'content-type': 'application/json', ...headers },
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
    });

  it('refuses malformed JSON with 400 (or 422 for well-formed non-objects) and writes nothing', async () => {
    const before = await state();
    for (const body of MALFORMED_JSON) {
      const res = await send(body);
      expect([400, 413, 422], `${JSON.stringify(body.slice(0, 30))}: ${res.body}`).toContain(res.statusCode);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    expect(await state()).toEqual(before);
  });

  it('refuses prototype-pollution and unknown properties and writes nothing', async () => {
    const before = await state();
    for (const poison of POISON) {
      const body = `{${JSON.stringify(w.valid()).slice(1, -1)},${JSON.stringify(poison).slice(1, -1)}}`;
      const res = await send(body);
      expect([400, 422], body).toContain(res.statusCode);
    }
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    expect(await state()).toEqual(before);
  });

  it('refuses wrong types, extreme numbers, NUL bytes and lone surrogates in every field', async () => {
    const fields = Object.keys(w.valid());
    for (const field of fields) {
      for (const value of BAD_VALUES) {
        const before = await state();
        const res = await send({ ...w.valid(), [field]: value });
        const label = `${field}=${JSON.stringify(value)?.slice(0, 40)}: ${res.statusCode} ${res.body.slice(0, 200)}`;
        expect(res.statusCode, label).toBeLessThan(500);
        if (res.statusCode >= 400) {
          expect(res.headers['content-type'], label).toMatch(/^application\/problem\+json/);
          expect(await state(), label).toEqual(before);
        }
      }
    }
  });

  it('refuses a body over the size limit with 413 and writes nothing', async () => {
    const before = await state();
    const res = await send({ ...w.valid(), name: 'x'.repeat(10_000) });
    expect(res.statusCode).toBe(413);
    expect(await state()).toEqual(before);
  });

  it('refuses other content types with 415 and writes nothing', async () => {
    const before = await state();
    for (const [type, status] of [
      ['application/x-www-form-urlencoded', 415],
      ['multipart/form-data; boundary=x', 415],
      ['application/xml', 415],
      ['text/plain', 415],
    ] as const) {
      const res = await t.call(t.adminKey, {
        method: w.method,
        url: w.url(),
        headers: { 'content-type': type },
        payload: 'name=x',
      });
      expect(res.statusCode, type).toBe(status);
    }
    expect(await state()).toEqual(before);
  });
});

describe('text that PostgreSQL cannot store', () => {
  it.each([
    ['NUL', 'Ana\u0000Souza'],
    ['a lone high surrogate', 'Ana\ud800'],
    ['a lone low surrogate', '\udc00Ana'],
  ])('a name with %s is refused with 422 naming the field', async (_label, name) => {
    const before = await state();
    const res = await t.call(t.adminKey, {
      method: 'POST',
      url: '/api/v1/patients',
      payload: { ...validPatient(), name },
    });
    expect(res.statusCode).toBe(422);
    expect(res.json().errors).toEqual([
      { field: 'body.name', message: 'must not contain NUL characters or unpaired surrogate code units' },
    ]);
    expect(await state()).toEqual(before);
  });

  it.each([
    ['right-to-left override', 'Ana \u202eazuoS'],
    ['zero-width joiner and emoji', 'Ana \u200d👩‍⚕️ Souza'],
    ['combining marks', 'Ana Souza\u0301\u0327'],
    ['CJK and astral characters', '安娜 𠜎 Souza'],
    ['a BOM', '\ufeffAna Souza'],
  ])('a name with %s is either refused or stored exactly', async (_label, name) => {
    const res = await t.call(t.adminKey, {
      method: 'POST',
      url: '/api/v1/patients',
      payload: { ...validPatient(), name },
    });
    expect(res.statusCode).toBeLessThan(500);
    if (res.statusCode === 201) {
      const [row] = await queryRows<{ name: string }>(
        t.database.db,
        sql`select name from patients where id = ${res.json().id}`,
      );
      expect(row?.name).toBe(name.trim());
    }
  });
});

const INJECTIONS = [
  "' OR '1'='1",
  "1' OR 1=1 --",
  '1; DROP TABLE patients; --',
  '1 UNION SELECT key_hash FROM api_keys --',
  "'); DELETE FROM audit_events; --",
  "%' OR name LIKE '%",
  '\\',
  '$$',
  '1)::int; select pg_sleep(10); --',
  '%00',
  '%E2%80%AE',
  '\u0000',
];

/** Every filter of every list route, with a valid base query. */
const FILTERS: { route: string; base: () => string; params: string[] }[] = [
  { route: '/api/v1/patients', base: () => '', params: ['search', 'page', 'size'] },
  {
    route: '/api/v1/biometrics',
    base: () => `patient_id=${P.id}`,
    params: ['patient_id', 'type', 'from', 'to', 'page', 'size'],
  },
  {
    route: '/api/v1/analytics',
    base: () => '',
    params: ['patient_id', 'metric', 'type', 'from', 'to', 'page', 'size'],
  },
  { route: '/api/v1/audit', base: () => '', params: ['patient_id', 'key_id', 'from', 'to', 'outcome', 'page', 'size'] },
  { route: '/api/v1/keys', base: () => '', params: ['page', 'size'] },
];

describe.each(FILTERS)('filters of $route', (f) => {
  it('answer SQL-injection text without a 5xx, leaking nothing and changing nothing', async () => {
    const before = await state();
    for (const param of f.params) {
      for (const inj of INJECTIONS) {
        const value = /^%[0-9A-F]{2}/.test(inj) ? inj : encodeURIComponent(inj);
        const query = [f.base().replace(new RegExp(`(^|&)${param}=[^&]*`), ''), `${param}=${value}`]
          .filter(Boolean)
          .join('&');
        const res = await t.call(t.adminKey, { method: 'GET', url: `${f.route}?${query}` });
        const label = `${param}=${inj}: ${res.statusCode} ${res.body.slice(0, 200)}`;
        expect(res.statusCode, label).toBeLessThan(500);
        if (param === 'search' && !inj.includes('\u0000') && inj !== '%00') {
          // Literal matching only: every hit really contains the text (no widened WHERE).
          expect(res.statusCode, label).toBe(200);
          const text = decodeURIComponent(value).toLowerCase();
          const items = res.json().items as { name: string; email: string }[];
          for (const i of items) expect(`${i.name} ${i.email}`.toLowerCase(), label).toContain(text);
          expect(items.length, label).toBeLessThan(Number((await state())?.patients));
        } else {
          expect([400, 404, 422], label).toContain(res.statusCode);
        }
        expect(res.body).not.toMatch(/key_hash|[0-9a-f]{64}/);
      }
    }
    expect(await state()).toEqual(before);
  });
});

describe('path ids', () => {
  it.each([
    `/api/v1/patients/1%20OR%201=1`,
    `/api/v1/patients/1;DROP%20TABLE%20patients`,
    '/api/v1/patients/-1',
    '/api/v1/patients/0',
    '/api/v1/patients/1e308',
    '/api/v1/patients/99999999999999999999',
    '/api/v1/patients/NaN',
    '/api/v1/patients/%00',
    `/api/v1/biometrics/${'9'.repeat(30)}`,
    '/api/v1/biometrics/1.5',
    '/api/v1/keys/-0',
  ])('%s is refused without a 5xx', async (url) => {
    const before = await state();
    for (const method of ['GET', 'PATCH', 'DELETE'] as const) {
      const res = await t.call(t.adminKey, {
        method,
        url,
        ...(method === 'PATCH' ? { payload: { phone: '1' } } : {}),
      });
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(500);
      expect([400, 404, 405, 422], `${method} ${url}`).toContain(res.statusCode);
    }
    expect(await state()).toEqual(before);
  });

  it('the reading used as a target still exists', async () => {
    const [row] = await queryRows(t.database.db, sql`select id from biometrics where id = ${readingId}`);
    expect(row).toBeDefined();
  });
});
