/** Key management: the admin API, the command line, hashing, expiry, revocation and the cache. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../src/cli/cli-errors.js';
import { keysCommand } from '../src/cli/keys.command.js';
import { apiKeys, auditEvents } from '../src/db/schema.js';
import { KeyCache } from '../src/modules/keys/keys.cache.js';
import type { ApiKeyRow } from '../src/modules/keys/keys.repository.js';
import { hashKey } from '../src/modules/keys/keys.service.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createPgTestDatabase, TEST_DB } from './helpers/database.js';
import { newPatient } from './helpers/security.js';

const KEY_RE = /^pp_([A-Za-z0-9]{8})_[A-Za-z0-9_-]{43}$/;
const INFO_FIELDS = [
  'bootstrap',
  'created_at',
  'expires_at',
  'id',
  'name',
  'patient_ids',
  'prefix',
  'revoked_at',
  'role',
].sort();

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

async function create(payload: Record<string, unknown>) {
  return t.call(t.adminKey, { method: 'POST', url: '/api/v1/keys', payload });
}

describe('POST /api/v1/keys', () => {
  it('returns the secret once, stores only its SHA-256, and the key works at once', async () => {
    const p = await newPatient(t);
    const res = await create({ name: 'ward tablet', role: 'patient', patient_ids: [p.id] });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual([...INFO_FIELDS, 'key'].sort());
    expect(body).toMatchObject({
      name: 'ward tablet',
      role: 'patient',
      patient_ids: [p.id],
      bootstrap: false,
      expires_at: null,
      revoked_at: null,
    });
    const m = KEY_RE.exec(body.key);
    expect(m?.[1]).toBe(body.prefix);
    const [row] = await t.database.db.select().from(apiKeys).where(eq(apiKeys.id, body.id));
    expect(row?.keyHash).toBe(hashKey(body.key));
    expect(JSON.stringify(row)).not.toContain(body.key.slice(12));
    const use = await t.call(body.key, { method: 'GET', url: `/api/v1/patients/${p.id}` });
    expect(use.statusCode).toBe(200);
  });

  it('generates distinct high-entropy keys', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) seen.add((await create({ name: `k${i}`, role: 'reader' })).json().key);
    expect(seen.size).toBe(5);
  });

  it.each([
    [{ name: 'p', role: 'patient' }, 'body.patient_ids'],
    [{ name: 'p', role: 'patient', patient_ids: [1, 2] }, 'body.patient_ids'],
    [{ name: 'p', role: 'reader', patient_ids: [] }, 'body.patient_ids'],
    [{ name: 'p', role: 'reader', patient_ids: [2_000_000_000] }, 'body.patient_ids'],
    [{ name: 'a', role: 'admin', patient_ids: [1] }, 'body.patient_ids'],
    [{ name: 'm', role: 'metrics', patient_ids: [1] }, 'body.patient_ids'],
    [{ name: 'x', role: 'superuser' }, 'body.role'],
    [{ name: '', role: 'reader' }, 'body.name'],
    [{ name: '   ', role: 'reader' }, 'body.name'],
    [{ name: 'x', role: 'reader', expires_at: '2001-01-01T00:00:00Z' }, 'body.expires_at'],
    [{ name: 'x', role: 'reader', expires_at: 'tomorrow' }, 'body.expires_at'],
    [{ name: 'x', role: 'reader', key_hash: 'abc' }, 'body.key_hash'],
  ])('rejects %j with 422 on %s and stores nothing', async (payload, field) => {
    const before = (await t.database.db.select({ id: apiKeys.id }).from(apiKeys)).length;
    const res = await create(payload);
    expect(res.statusCode).toBe(422);
    expect(res.json().errors.map((e: { field: string }) => e.field)).toContain(field);
    expect((await t.database.db.select({ id: apiKeys.id }).from(apiKeys)).length).toBe(before);
  });

  it('accepts a device key with or without a patient binding, and an expiry', async () => {
    const p = await newPatient(t);
    const expires = new Date(Date.now() + 86_400_000).toISOString();
    const bound = await create({ name: 'meter', role: 'device', patient_ids: [p.id], expires_at: expires });
    expect(bound.statusCode).toBe(201);
    expect(bound.json()).toMatchObject({ patient_ids: [p.id], expires_at: expires });
    const free = await create({ name: 'gateway', role: 'device' });
    expect(free.statusCode).toBe(201);
    expect(free.json().patient_ids).toBeNull();
  });
});

describe('GET /api/v1/keys', () => {
  it('lists keys with paging and never a secret or hash', async () => {
    const created = (await create({ name: 'listed', role: 'reader' })).json();
    const res = await t.call(t.adminKey, { method: 'GET', url: '/api/v1/keys?size=100' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ page: 1, size: 100, total: expect.any(Number) });
    expect(body.items.length).toBe(Math.min(body.total, 100));
    for (const item of body.items) expect(Object.keys(item).sort()).toEqual(INFO_FIELDS);
    expect(res.body).not.toContain(created.key);
    expect(res.body).not.toContain(hashKey(created.key));
    expect(res.body).not.toContain(hashKey(t.adminKey));
    const page2 = await t.call(t.adminKey, { method: 'GET', url: '/api/v1/keys?size=1&page=2' });
    expect(page2.json().items).toHaveLength(1);
    expect(page2.json().items[0].id).toBe(body.items[1].id);
  });
});

describe('revocation and expiry', () => {
  it('takes effect on the very next request, although the key was cached', async () => {
    const k = (await create({ name: 'soon revoked', role: 'reader' })).json();
    expect((await t.call(k.key, { method: 'GET', url: '/api/v1/patients' })).statusCode).toBe(200);
    const rev = await t.call(t.adminKey, { method: 'DELETE', url: `/api/v1/keys/${k.id}` });
    expect(rev.statusCode).toBe(200);
    expect(rev.json()).toMatchObject({ id: k.id, revoked_at: expect.any(String) });
    expect((await t.call(k.key, { method: 'GET', url: '/api/v1/patients' })).statusCode).toBe(401);
    const again = await t.call(t.adminKey, { method: 'DELETE', url: `/api/v1/keys/${k.id}` });
    expect(again.json().revoked_at).toBe(rev.json().revoked_at);
  });

  it('answers 404 for an unknown key id', async () => {
    const res = await t.call(t.adminKey, { method: 'DELETE', url: '/api/v1/keys/2000000000' });
    expect(res.statusCode).toBe(404);
  });

  it('refuses to revoke the last usable admin key', async () => {
    const solo = await createTestApp();
    try {
      const [row] = await solo.database.db
        .select()
        .from(apiKeys)
        .where(eq(apiKeys.keyHash, hashKey(solo.adminKey)));
      const res = await solo.call(solo.adminKey, { method: 'DELETE', url: `/api/v1/keys/${row?.id}` });
      expect(res.statusCode).toBe(409);
      expect((await solo.call(solo.adminKey, { method: 'GET', url: '/api/v1/keys' })).statusCode).toBe(200);
      const second = (
        await solo.call(solo.adminKey, { method: 'POST', url: '/api/v1/keys', payload: { name: 'b', role: 'admin' } })
      ).json();
      const ok = await solo.call(second.key, { method: 'DELETE', url: `/api/v1/keys/${row?.id}` });
      expect(ok.statusCode).toBe(200);
      expect((await solo.call(solo.adminKey, { method: 'GET', url: '/api/v1/keys' })).statusCode).toBe(401);
    } finally {
      await solo.close();
    }
  });

  it('an expired key is refused even while cached', async () => {
    let now = new Date();
    const clocked = await createTestApp({ database: t.database, now: () => now });
    try {
      const k = (
        await create({ name: 'short', role: 'reader', expires_at: new Date(Date.now() + 60_000).toISOString() })
      ).json();
      expect((await clocked.call(k.key, { method: 'GET', url: '/api/v1/patients' })).statusCode).toBe(200);
      now = new Date(Date.now() + 120_000);
      expect((await clocked.call(k.key, { method: 'GET', url: '/api/v1/patients' })).statusCode).toBe(401);
    } finally {
      await clocked.close();
    }
  });

  it('another instance sees a revocation at once with KEY_CACHE_TTL_MS=0', async () => {
    const other = await createTestApp({ database: t.database, env: { KEY_CACHE_TTL_MS: '0' } });
    try {
      const k = (await create({ name: 'cross', role: 'reader' })).json();
      expect((await other.call(k.key, { method: 'GET', url: '/api/v1/patients' })).statusCode).toBe(200);
      expect((await t.call(t.adminKey, { method: 'DELETE', url: `/api/v1/keys/${k.id}` })).statusCode).toBe(200);
      expect((await other.call(k.key, { method: 'GET', url: '/api/v1/patients' })).statusCode).toBe(401);
    } finally {
      await other.close();
    }
  });
});

describe('KeyCache', () => {
  const row = { id: 1 } as ApiKeyRow;

  it('forgets entries after its TTL, which bounds how long another instance trusts a revoked key', () => {
    let clock = 0;
    const cache = new KeyCache(5_000, 10, () => clock);
    cache.set('h', row);
    clock = 4_999;
    expect(cache.get('h')).toBe(row);
    clock = 5_000;
    expect(cache.get('h')).toBeUndefined();
  });

  it('is bounded, evicts the oldest entry and can be disabled', () => {
    const cache = new KeyCache(5_000, 2, () => 0);
    cache.set('a', row);
    cache.set('b', row);
    cache.set('c', row);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('c')).toBe(row);
    const off = new KeyCache(0);
    off.set('a', row);
    expect(off.get('a')).toBeUndefined();
  });
});

// Each command opens the database from scratch (as the real binary does): slow on PGlite.
describe('keys command', { timeout: 240_000 }, () => {
  let env: Record<string, string>;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    if (TEST_DB === 'postgres') {
      const created = await createPgTestDatabase();
      env = { DATABASE_URL: created.url, LOG_LEVEL: 'silent' };
      cleanup = created.drop;
    } else {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'pp-keys-'));
      env = { DATA_DIR: dir, LOG_LEVEL: 'silent' };
      cleanup = async () => rmSync(dir, { recursive: true, force: true });
    }
  });
  afterAll(async () => {
    await cleanup?.();
  });

  async function run(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await keysCommand(argv, { env, out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out, err };
  }

  it('creates, lists and revokes keys, and audits the changes', async () => {
    const admin = await run('create', '--role', 'admin', '--name', 'ops', '--json');
    expect(admin.code).toBe(0);
    const a = JSON.parse(admin.out[0] ?? '');
    expect(a).toMatchObject({ role: 'admin', name: 'ops', patient_ids: null });
    expect(a.key).toMatch(KEY_RE);

    const human = await run('create', '--role', 'reader', '--name', 'auditor', '--expires', '2199-01-01T00:00:00Z');
    expect(human.code).toBe(0);
    expect(human.out.join('\n')).toMatch(/shown only this once/);
    const secret = human.out.map((l) => l.trim()).find((l) => KEY_RE.test(l));
    expect(secret).toBeDefined();

    const list = await run('list', '--json');
    expect(list.code).toBe(0);
    const keys = JSON.parse(list.out[0] ?? '[]') as Record<string, unknown>[];
    expect(keys.map((k) => k.name)).toEqual(['ops', 'auditor']);
    for (const k of keys) expect(Object.keys(k).sort()).toEqual(INFO_FIELDS);
    expect(list.out.join('\n')).not.toContain(a.key);
    expect(list.out.join('\n')).not.toContain(secret);

    const reader = keys[1] as { id: number };
    const revoked = await run('revoke', String(reader.id));
    expect(revoked.code).toBe(0);
    const table = await run('list');
    expect(table.out.join('\n')).toMatch(/revoked \d{4}-/);

    const lastAdmin = await run('revoke', String(a.id));
    expect(lastAdmin.code).toBe(1);
    expect(lastAdmin.err.join('\n')).toMatch(/last usable admin key/);

    const { openMigratedDatabase } = await import('../src/db/open.js');
    const { loadConfig } = await import('../src/config/config.js');
    const database = await openMigratedDatabase(loadConfig(env), 'test');
    try {
      const events = await database.db.select().from(auditEvents);
      expect(events.map((e) => e.action).sort()).toEqual(['cli keys create', 'cli keys create', 'cli keys revoke']);
      const stored = await database.db.select().from(apiKeys);
      expect(stored.map((k) => k.keyHash)).toContain(hashKey(a.key));
    } finally {
      await database.close();
    }
  });

  it.each([
    [['create', '--name', 'x']],
    [['create', '--role', 'wizard', '--name', 'x']],
    [['create', '--role', 'reader']],
    [['create', '--role', 'reader', '--name', 'x', '--patients', '1,abc']],
    [['create', '--role', 'reader', '--name', 'x', '--expires', 'soon']],
    [['create', '--role', 'reader', '--name', 'x', '--bogus']],
    [['revoke']],
    [['revoke', 'abc']],
    [['list', 'extra']],
    [['explode']],
  ])('%j is a usage error', async (argv) => {
    await expect(run(...argv)).rejects.toBeInstanceOf(UsageError);
  });

  it('a patient key without exactly one existing patient is a usage error', async () => {
    await expect(run('create', '--role', 'patient', '--name', 'p')).rejects.toThrow(/exactly one patient/);
    await expect(run('create', '--role', 'patient', '--name', 'p', '--patients', '424242')).rejects.toThrow(
      /no patient with id 424242/,
    );
  });

  it('an admin or metrics key limited to patients is a usage error, worded with the right article', async () => {
    await expect(run('create', '--role', 'admin', '--name', 'x', '--patients', '1')).rejects.toThrow(
      new UsageError('patient_ids: an admin key cannot be limited to patients'),
    );
    await expect(run('create', '--role', 'metrics', '--name', 'x', '--patients', '1')).rejects.toThrow(
      new UsageError('patient_ids: a metrics key cannot be limited to patients'),
    );
  });

  it('exits with status 2 on usage errors through the real binary', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'keys', 'create', '--role', 'nobody'], {
      encoding: 'utf8',
      env: { ...process.env, ...env },
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--role must be one of/);
  });
});
