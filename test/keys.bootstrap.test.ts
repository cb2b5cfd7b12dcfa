import { asc } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/config.js';
import type { Database } from '../src/db/database.js';
import { apiKeys } from '../src/db/schema.js';
import { authenticateKey, ensureBootstrapAdmin, hashKey } from '../src/modules/keys/keys.service.js';
import { createTestApp } from './helpers/app.js';
import { createTestDatabase } from './helpers/database.js';

// Each test starts from an empty key table: "no admin exists" is part of the setup.
let database: Database | undefined;
afterEach(async () => {
  await database?.close();
  database = undefined;
});

const KEY_A = 'bootstrap-key-A-0123456789abcdefghij';
const KEY_B = 'bootstrap-key-B-0123456789abcdefghij';

async function keyRows(db: Database['db']) {
  return db
    .select({
      keyHash: apiKeys.keyHash,
      role: apiKeys.role,
      bootstrap: apiKeys.bootstrap,
      revoked: apiKeys.revokedAt,
      patientIds: apiKeys.patientIds,
    })
    .from(apiKeys)
    .orderBy(asc(apiKeys.id));
}

/** One server start: what startup.ts does with the configured ADMIN_API_KEY. */
function start(db: Database['db'], adminApiKey: string | undefined) {
  return ensureBootstrapAdmin({ db }, adminApiKey);
}

describe('bootstrap admin key', () => {
  it('installs ADMIN_API_KEY as an admin key, stored only as its hash', async () => {
    database = await createTestDatabase();
    const { db } = database;
    expect(await start(db, KEY_A)).toEqual({});
    expect(await keyRows(db)).toEqual([
      { keyHash: hashKey(KEY_A), role: 'admin', bootstrap: true, revoked: null, patientIds: null },
    ]);
    expect(JSON.stringify(await db.select().from(apiKeys))).not.toContain(KEY_A);
    expect(await authenticateKey({ db }, KEY_A)).toEqual({
      keyId: expect.any(Number),
      role: 'admin',
      patientIds: null,
    });
  });

  it('honours the same ADMIN_API_KEY on every start without adding keys', async () => {
    database = await createTestDatabase();
    const { db } = database;
    await start(db, KEY_A);
    await start(db, KEY_A);
    await start(db, KEY_A);
    expect(await keyRows(db)).toHaveLength(1);
    expect(await authenticateKey({ db }, KEY_A)).toMatchObject({ role: 'admin' });
  });

  it('replaces the old bootstrap key when ADMIN_API_KEY changes', async () => {
    database = await createTestDatabase();
    const { db } = database;
    await start(db, KEY_A);
    await start(db, KEY_B);
    expect(await keyRows(db)).toEqual([
      { keyHash: hashKey(KEY_A), role: 'admin', bootstrap: true, revoked: expect.any(Date), patientIds: null },
      { keyHash: hashKey(KEY_B), role: 'admin', bootstrap: true, revoked: null, patientIds: null },
    ]);
    expect(await authenticateKey({ db }, KEY_A)).toBeUndefined();
    expect(await authenticateKey({ db }, KEY_B)).toMatchObject({ role: 'admin' });
  });

  it('generates a key once when ADMIN_API_KEY is unset and no admin key exists', async () => {
    database = await createTestDatabase();
    const { db } = database;
    const first = await start(db, undefined);
    expect(first.generatedKey).toMatch(/^pp_[A-Za-z0-9]{8}_[A-Za-z0-9_-]{43}$/);
    const generated = first.generatedKey as string;
    expect(await keyRows(db)).toEqual([
      { keyHash: hashKey(generated), role: 'admin', bootstrap: true, revoked: null, patientIds: null },
    ]);
    expect(await authenticateKey({ db }, generated)).toMatchObject({ role: 'admin' });
    // Later starts print nothing and add nothing.
    expect(await start(db, undefined)).toEqual({});
    expect(await start(db, undefined)).toEqual({});
    expect(await keyRows(db)).toHaveLength(1);
  });

  it('generates nothing when ADMIN_API_KEY was installed before and is now unset', async () => {
    database = await createTestDatabase();
    const { db } = database;
    await start(db, KEY_A);
    expect(await start(db, undefined)).toEqual({});
    expect(await keyRows(db)).toHaveLength(1);
    expect(await authenticateKey({ db }, KEY_A)).toMatchObject({ role: 'admin' });
  });

  it('replaces a generated key once ADMIN_API_KEY is set', async () => {
    database = await createTestDatabase();
    const { db } = database;
    const { generatedKey } = await start(db, undefined);
    await start(db, KEY_A);
    expect(await authenticateKey({ db }, generatedKey as string)).toBeUndefined();
    expect(await authenticateKey({ db }, KEY_A)).toMatchObject({ role: 'admin' });
  });

  it('the bootstrap key opens the API', async () => {
    // A restart is simulated on a running app: without the key cache, as after a real restart.
    const app = await createTestApp({ env: { KEY_CACHE_TTL_MS: '0' } });
    try {
      await start(app.database.db, KEY_A);
      const ok = await app.call(KEY_A, { method: 'GET', url: '/api/v1/patients' });
      expect(ok.statusCode).toBe(200);
      await start(app.database.db, KEY_B);
      const replaced = await app.call(KEY_A, { method: 'GET', url: '/api/v1/patients' });
      expect(replaced.statusCode).toBe(401);
      expect((await app.call(KEY_B, { method: 'GET', url: '/api/v1/patients' })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('a short ADMIN_API_KEY stops the start with a message naming it', () => {
    expect(() => loadConfig({ ADMIN_API_KEY: 'short-key' })).toThrow(ConfigError);
    expect(() => loadConfig({ ADMIN_API_KEY: 'x'.repeat(31) })).toThrow(
      'Invalid configuration: ADMIN_API_KEY must be at least 32 characters long',
    );
  });
});
