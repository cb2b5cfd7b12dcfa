/**
 * Abuse limits and caps: rate limits per key, per address and on failed authentication
 * (with TRUST_PROXY deciding where the address comes from), body size, page size,
 * request timeout and statement timeout, each answered with a clear status.
 */
import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildApp } from '../src/app.js';
import { queryRows } from '../src/db/database.js';
import { patients } from '../src/db/schema.js';
import { createKey } from '../src/modules/keys/keys.service.js';
import { createTestApp, type TestApp, testConfig, uniqueEmail } from './helpers/app.js';
import { createTestDatabase, TEST_DB } from './helpers/database.js';
import { expectProblem } from './helpers/problem.js';
import { auditEventsFor, requestId, unknownKey } from './helpers/security.js';

const from = (remoteAddress: string, headers: Record<string, string> = {}) => ({ remoteAddress, headers });

describe('rate limits', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      env: {
        RATE_LIMIT_PER_KEY_PER_MINUTE: '3',
        RATE_LIMIT_PER_IP_PER_MINUTE: '4',
        AUTH_FAILURES_PER_IP_PER_MINUTE: '2',
      },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('limits each key on its own; another key is unaffected', async () => {
    const k1 = await t.key('reader');
    const k2 = await t.key('reader');
    for (let i = 0; i < 3; i++) {
      expect((await t.call(k1, { method: 'GET', url: '/api/v1/patients', ...from('10.1.0.1') })).statusCode).toBe(200);
    }
    const limited = await t.call(k1, { method: 'GET', url: '/api/v1/patients', ...from('10.1.0.2') });
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.json()).toMatchObject({ status: 429, code: 'rate_limited' });
    expect((await t.call(k2, { method: 'GET', url: '/api/v1/patients', ...from('10.1.0.1') })).statusCode).toBe(200);
  });

  it('answers 429 to repeated bad keys from one address, while other addresses and known keys pass', async () => {
    const bad = { method: 'GET' as const, url: '/api/v1/patients' };
    expect((await t.call(unknownKey(), { ...bad, ...from('10.2.0.1') })).statusCode).toBe(401);
    expect((await t.call(null, { ...bad, ...from('10.2.0.1') })).statusCode).toBe(401);
    const blocked = await t.call(unknownKey(), { ...bad, ...from('10.2.0.1') });
    expect(blocked.statusCode).toBe(429);
    expect(blocked.json().detail).toMatch(/failed authentication/);
    expect((await t.call('garbage', { ...bad, ...from('10.2.0.1') })).statusCode).toBe(429);
    expect((await t.call(unknownKey(), { ...bad, ...from('10.2.0.2') })).statusCode).toBe(401);
    // A key this instance has verified before passes; one it has not is not even looked up.
    const known = await t.key('reader');
    expect((await t.call(known, { ...bad, ...from('10.2.0.3') })).statusCode).toBe(200);
    expect((await t.call(known, { ...bad, ...from('10.2.0.1') })).statusCode).toBe(200);
    expect((await t.call(await t.key('reader'), { ...bad, ...from('10.2.0.1') })).statusCode).toBe(429);
  });

  it('records the first refusal of a window in the audit trail, not every repeat', async () => {
    const ids = [requestId('rl'), requestId('rl'), requestId('rl'), requestId('rl')];
    const statuses: number[] = [];
    for (const id of ids) {
      const res = await t.call(unknownKey(), {
        method: 'GET',
        url: '/api/v1/patients',
        ...from('10.3.0.1', { 'x-request-id': id }),
      });
      statuses.push(res.statusCode);
    }
    expect(statuses).toEqual([401, 401, 429, 429]);
    const counts = await Promise.all(ids.map(async (id) => (await auditEventsFor(t.database.db, id)).length));
    expect(counts).toEqual([1, 1, 1, 0]);
    const [first429] = await auditEventsFor(t.database.db, ids[2] as string);
    expect(first429).toMatchObject({ outcome: 'rate_limited', status: 429, clientIp: '10.3.0.1' });
  });

  it('limits requests without a key per address (public endpoints)', async () => {
    for (let i = 0; i < 4; i++)
      expect((await t.call(null, { method: 'GET', url: '/healthz', ...from('10.4.0.1') })).statusCode).toBe(200);
    expect((await t.call(null, { method: 'GET', url: '/healthz', ...from('10.4.0.1') })).statusCode).toBe(429);
    expect((await t.call(null, { method: 'GET', url: '/healthz', ...from('10.4.0.2') })).statusCode).toBe(200);
  });
});

describe('failed-authentication limit', () => {
  const FAILURES = 3;
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { AUTH_FAILURES_PER_IP_PER_MINUTE: String(FAILURES) } });
  });
  afterAll(async () => {
    await t?.close();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const patientsFrom = (key: string | null, address: string, id = requestId('af')) =>
    t.call(key, { method: 'GET', url: '/api/v1/patients', ...from(address, { 'x-request-id': id }) });
  const usedUp = (retryAfter: string | undefined) => ({
    status: 429,
    code: 'rate_limited',
    detail: `Too many failed authentication attempts from this address; retry after ${retryAfter} s`,
    instance: '/api/v1/patients',
  });

  it('refuses a correct key it has not verified before, without checking it, once the failures are used up', async () => {
    const guesser = '10.8.0.1';
    for (let i = 0; i < FAILURES; i++) expect((await patientsFrom(unknownKey(), guesser)).statusCode).toBe(401);
    const { key, info } = await createKey({ db: t.database.db }, { name: 'guessed', role: 'reader' });
    const id = requestId('af');
    const guessed = await patientsFrom(key, guesser, id);
    expectProblem(guessed, usedUp(guessed.headers['retry-after']));
    expect(Number(guessed.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(guessed.headers['retry-after'])).toBeLessThanOrEqual(60);
    // The first refusal of the window is audited, naming the key's prefix, with no key id.
    expect(await auditEventsFor(t.database.db, id)).toEqual([
      expect.objectContaining({
        status: 429,
        outcome: 'rate_limited',
        keyId: null,
        clientIp: guesser,
        detail: { reason: 'rate_limited', presented_prefix: info.prefix },
      }),
    ]);
    // Repeats in the window are not audited, and a wrong guess gets the same answer.
    const repeatId = requestId('af');
    expect((await patientsFrom(unknownKey(), guesser, repeatId)).statusCode).toBe(429);
    expect(await auditEventsFor(t.database.db, repeatId)).toEqual([]);
    // The key itself is fine from elsewhere.
    expect((await patientsFrom(key, '10.8.0.2')).statusCode).toBe(200);
  });

  it('lets a key verified here lately through from that address, until it is revoked', async () => {
    const nat = '10.9.0.1';
    const { key, info } = await createKey({ db: t.database.db }, { name: 'behind nat', role: 'reader' });
    expect((await patientsFrom(key, nat)).statusCode).toBe(200);
    for (let i = 0; i < FAILURES; i++) expect((await patientsFrom(unknownKey(), nat)).statusCode).toBe(401);
    expect((await patientsFrom(unknownKey(), nat)).statusCode).toBe(429);
    const ok = await patientsFrom(key, nat);
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ page: 1, size: 20, total: expect.any(Number) });
    // Revoked, it is looked up once more, fails, and is forgotten.
    expect((await t.call(t.adminKey, { method: 'DELETE', url: `/api/v1/keys/${info.id}` })).statusCode).toBe(200);
    const revoked = await patientsFrom(key, nat);
    expectProblem(revoked, usedUp(revoked.headers['retry-after']));
  });

  it('checks keys again once the window has passed', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const address = '10.10.0.1';
    for (let i = 0; i < FAILURES; i++) expect((await patientsFrom(unknownKey(), address)).statusCode).toBe(401);
    const { key } = await createKey({ db: t.database.db }, { name: 'later', role: 'reader' });
    expect((await patientsFrom(key, address)).statusCode).toBe(429);
    vi.setSystemTime(Date.now() + 59_000);
    expect((await patientsFrom(key, address)).statusCode).toBe(429);
    vi.setSystemTime(Date.now() + 1_000);
    expect((await patientsFrom(key, address)).statusCode).toBe(200);
    expect((await patientsFrom(unknownKey(), address)).statusCode).toBe(401);
  });
});

describe('TRUST_PROXY', () => {
  const failTwice = async (t: TestApp, remote: string, xff: string) => {
    const statuses: number[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await t.call(unknownKey(), {
        method: 'GET',
        url: '/api/v1/patients',
        ...from(remote, { 'x-forwarded-for': xff }),
      });
      statuses.push(res.statusCode);
    }
    return statuses;
  };

  it('off by default: X-Forwarded-For is ignored for limits and the audit trail', async () => {
    const t = await createTestApp({ env: { AUTH_FAILURES_PER_IP_PER_MINUTE: '1' } });
    try {
      expect(await failTwice(t, '10.5.0.1', '203.0.113.1')).toEqual([401, 429]);
      expect(await failTwice(t, '10.5.0.1', '203.0.113.2')).toEqual([429, 429]);
      const id = requestId('xff');
      await t.call(t.adminKey, {
        method: 'GET',
        url: '/api/v1/patients',
        ...from('10.5.0.9', { 'x-forwarded-for': '203.0.113.9', 'x-request-id': id }),
      });
      expect((await auditEventsFor(t.database.db, id))[0]?.clientIp).toBe('10.5.0.9');
    } finally {
      await t.close();
    }
  });

  it('when set to the proxy address, the client address comes from X-Forwarded-For', async () => {
    const t = await createTestApp({ env: { AUTH_FAILURES_PER_IP_PER_MINUTE: '1', TRUST_PROXY: '10.6.0.1' } });
    try {
      expect(await failTwice(t, '10.6.0.1', '203.0.113.1')).toEqual([401, 429]);
      // Another client behind the same proxy has its own budget.
      expect(await failTwice(t, '10.6.0.1', '203.0.113.2')).toEqual([401, 429]);
      // A forged header from a peer that is not the proxy is ignored.
      expect(await failTwice(t, '10.6.0.7', '203.0.113.3')).toEqual([401, 429]);
      expect(await failTwice(t, '10.6.0.7', '203.0.113.4')).toEqual([429, 429]);
      const id = requestId('xff');
      await t.call(t.adminKey, {
        method: 'GET',
        url: '/api/v1/patients',
        ...from('10.6.0.1', { 'x-forwarded-for': '198.51.100.7, 203.0.113.9', 'x-request-id': id }),
      });
      expect((await auditEventsFor(t.database.db, id))[0]?.clientIp).toBe('203.0.113.9');
    } finally {
      await t.close();
    }
  });

  it('TRUST_PROXY=true takes the address from X-Forwarded-For whatever the peer', async () => {
    const t = await createTestApp({ env: { TRUST_PROXY: 'true' } });
    try {
      const id = requestId('xff');
      await t.call(t.adminKey, {
        method: 'GET',
        url: '/api/v1/patients',
        ...from('10.7.0.1', { 'x-forwarded-for': '203.0.113.50', 'x-request-id': id }),
      });
      expect((await auditEventsFor(t.database.db, id))[0]?.clientIp).toBe('203.0.113.50');
    } finally {
      await t.close();
    }
  });
});

describe('caps', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { BODY_LIMIT_BYTES: '2048' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers 413 to a body over BODY_LIMIT_BYTES and stores nothing', async () => {
    const email = uniqueEmail('big');
    const res = await t.call(t.adminKey, {
      method: 'POST',
      url: '/api/v1/patients',
      payload: { name: 'Big Body', dob: '1980-01-01', gender: 'male', email, address: 'x'.repeat(3000) },
    });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ status: 413, code: 'body_too_large' });
    const rows = await queryRows(t.database.db, sql`select id from ${patients} where email = ${email}`);
    expect(rows).toEqual([]);
  });

  it.each([
    '/api/v1/patients?size=101',
    '/api/v1/biometrics?patient_id=1&size=1001',
    '/api/v1/analytics?size=1001',
    '/api/v1/audit?size=501',
    '/api/v1/keys?size=101',
    '/api/v1/patients?page=1000001',
  ])('answers 422 to an oversized page: %s', async (url) => {
    const res = await t.call(t.adminKey, { method: 'GET', url });
    expect(res.statusCode).toBe(422);
    expect(res.json().errors[0].field).toMatch(/^query\.(size|page)$/);
  });
});

describe('timeouts', () => {
  it('answers 503 when a request runs longer than REQUEST_TIMEOUT_MS', async () => {
    const database = await createTestDatabase();
    const app = await buildApp({ config: testConfig({ REQUEST_TIMEOUT_MS: '1000' }), database });
    try {
      app.get('/api/v1/test-slow', { config: { permission: 'patients:read' } }, async () => {
        await new Promise((r) => setTimeout(r, 1500));
        return { late: true };
      });
      await app.ready();
      const { createKey } = await import('../src/modules/keys/keys.service.js');
      const { key } = await createKey({ db: database.db }, { name: 'slow', role: 'reader' });
      const res = await app.inject({
        method: 'GET',
        url: '/api/v1/test-slow',
        headers: { authorization: `Bearer ${key}` },
      });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ status: 503, code: 'timeout' });
      expect(res.body).not.toContain('"late"');
    } finally {
      await app.close();
      await database.close();
    }
  });

  it('times out a slow request that arrived after fast ones, and only that one', async () => {
    const database = await createTestDatabase();
    const app = await buildApp({ config: testConfig({ REQUEST_TIMEOUT_MS: '1000' }), database });
    try {
      app.get('/api/v1/test-wait', { config: { permission: 'patients:read' } }, async (req) => {
        const ms = Number((req.query as { ms?: string }).ms);
        await new Promise((r) => setTimeout(r, ms));
        return { waited: ms };
      });
      await app.ready();
      const { createKey } = await import('../src/modules/keys/keys.service.js');
      const { key } = await createKey({ db: database.db }, { name: 'wait', role: 'reader' });
      const call = (ms: number) =>
        app.inject({ method: 'GET', url: `/api/v1/test-wait?ms=${ms}`, headers: { authorization: `Bearer ${key}` } });
      const fast = call(10);
      await new Promise((r) => setTimeout(r, 300));
      const [first, slow, quick] = await Promise.all([fast, call(1500), call(700)]);
      expect(first.statusCode).toBe(200);
      expect(quick.json()).toEqual({ waited: 700 });
      expect(slow.statusCode).toBe(503);
      expect(slow.json()).toMatchObject({ status: 503, code: 'timeout' });
    } finally {
      await app.close();
      await database.close();
    }
  });

  it.skipIf(TEST_DB === 'pglite')(
    'answers 503 when a statement exceeds DB_STATEMENT_TIMEOUT_MS (PostgreSQL)',
    async () => {
      const database = await createTestDatabase({ statementTimeoutMs: 200 });
      const app = await buildApp({ config: testConfig(), database });
      try {
        app.get('/api/v1/test-slow-sql', { config: { permission: 'patients:read' } }, async () => {
          await queryRows(database.db, sql`select pg_sleep(2)`);
          return { late: true };
        });
        await app.ready();
        const { createKey } = await import('../src/modules/keys/keys.service.js');
        const { key } = await createKey({ db: database.db }, { name: 'slow', role: 'reader' });
        const res = await app.inject({
          method: 'GET',
          url: '/api/v1/test-slow-sql',
          headers: { authorization: `Bearer ${key}` },
        });
        expect(res.statusCode).toBe(503);
        expect(res.json()).toMatchObject({ status: 503, code: 'timeout' });
      } finally {
        await app.close();
        await database.close();
      }
    },
  );
});
