/**
 * The verified-key cache: a lookup that started before a revocation cleared the cache must
 * not put the revoked key back into it; and the memory of keys verified lately, which lets
 * them past an address's used-up failed-authentication limit.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Database } from '../src/db/database.js';
import { KeyCache, RECENTLY_VERIFIED_MS } from '../src/modules/keys/keys.cache.js';
import type { ApiKeyRow } from '../src/modules/keys/keys.repository.js';
import { authenticateKey, createKey, hashKey, revokeKeyById } from '../src/modules/keys/keys.service.js';
import { createTestDatabase } from './helpers/database.js';

/**
 * While `hold` is set, findKeyByHash runs its query and then waits for `hold` to resolve
 * before returning the row it read: the window in which a revocation can slip in.
 */
const gate = vi.hoisted(() => ({ hold: undefined as Promise<void> | undefined, looked: () => {} }));
vi.mock('../src/modules/keys/keys.repository.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/modules/keys/keys.repository.js')>();
  return {
    ...real,
    findKeyByHash: async (...args: Parameters<typeof real.findKeyByHash>) => {
      const row = await real.findKeyByHash(...args);
      if (gate.hold) {
        gate.looked();
        await gate.hold;
      }
      return row;
    },
  };
});

describe('KeyCache generations', () => {
  const row = { id: 1 } as ApiKeyRow;

  it('ignores a row from a lookup that started before a clear, and takes one from after', () => {
    const cache = new KeyCache(5_000, 10, () => 0);
    const before = cache.generation;
    cache.clear();
    cache.set('h', row, before);
    expect(cache.get('h')).toBeUndefined();
    cache.set('h', row, cache.generation);
    expect(cache.get('h')).toBe(row);
    cache.set('g', row);
    expect(cache.get('g')).toBe(row);
  });
});

describe('KeyCache: recently verified keys', () => {
  it('remembers a verified key for RECENTLY_VERIFIED_MS after its last use, whatever the TTL and clears', () => {
    let clock = 0;
    const cache = new KeyCache(0, 10, () => clock);
    cache.markVerified('h');
    cache.clear();
    clock = RECENTLY_VERIFIED_MS - 1;
    expect(cache.recentlyVerified('h')).toBe(true);
    cache.markVerified('h');
    clock += RECENTLY_VERIFIED_MS - 1;
    expect(cache.recentlyVerified('h')).toBe(true);
    clock += 1;
    expect(cache.recentlyVerified('h')).toBe(false);
    expect(cache.recentlyVerified('never')).toBe(false);
  });

  it('forgets a key that failed, and the least recently used one when full', () => {
    const cache = new KeyCache(5_000, 2, () => 0);
    cache.markVerified('a');
    cache.markVerified('b');
    cache.forgetVerified('b');
    expect(cache.recentlyVerified('b')).toBe(false);
    cache.markVerified('b');
    cache.markVerified('a');
    cache.markVerified('c');
    expect(['a', 'b', 'c'].map((h) => cache.recentlyVerified(h))).toEqual([true, false, true]);
  });
});

describe('a key lookup racing its revocation', () => {
  let database: Database;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.close();
  });

  it('does not put the revoked key back into the cache', async () => {
    const cache = new KeyCache(60_000);
    const deps = { db: database.db, cache };
    const { key, info } = await createKey(deps, { name: 'raced', role: 'reader' });

    let release = () => {};
    gate.hold = new Promise<void>((resolve) => {
      release = resolve;
    });
    const looked = new Promise<void>((resolve) => {
      gate.looked = resolve;
    });
    // 1. The lookup reads the key while it is still valid, and is held there.
    const racing = authenticateKey(deps, key);
    await looked;
    gate.hold = undefined;
    // 2. The revocation commits and clears the cache.
    const revoked = await revokeKeyById(deps, info.id);
    expect(revoked.revokedAt).toBeInstanceOf(Date);
    // 3. The lookup finishes: it answers with what it read, but caches nothing.
    release();
    expect(await racing).toEqual({ keyId: info.id, role: 'reader', patientIds: null });
    expect(cache.get(hashKey(key))).toBeUndefined();
    // The next request looks the key up again and is refused.
    expect(await authenticateKey(deps, key)).toBeUndefined();
  });
});
