/**
 * API key lifecycle: generation, hashing, authentication and the bootstrap admin key.
 * Keys are 256-bit random secrets; only their SHA-256 is stored (a slow password hash
 * adds nothing for secrets of this entropy and would cost every request).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Db } from '../../db/database.js';
import { ConflictError, NotFoundError, ValidationError } from '../../domain/errors.js';
import type { KeyCache } from './keys.cache.js';
import {
  type ApiKeyRow,
  activeAdminKeyCount,
  activeBootstrapKeys,
  existingPatientIds,
  findKeyByHash,
  findKeyById,
  insertKey,
  listKeys,
  listKeysPage,
  revokeKey,
  usableAdminKeyIds,
} from './keys.repository.js';
import { isRole, type Principal, type Role } from './keys.roles.js';

export interface KeyDeps {
  db: Db;
  log?: Pick<Logger, 'info' | 'warn'>;
  now?: () => Date;
  /** Verified-key cache of the HTTP server; revocations clear it. */
  cache?: KeyCache;
}

const KEY_RE = /^pp_([A-Za-z0-9]{8})_([A-Za-z0-9_-]{43})$/;

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Generates a new key: `pp_<8-char prefix>_<43-char secret>`. */
export function generateKey(): { key: string; prefix: string } {
  const prefix = randomBytes(6).toString('base64url').replace(/[-_]/g, 'x').slice(0, 8);
  const secret = randomBytes(32).toString('base64url');
  return { key: `pp_${prefix}_${secret}`, prefix };
}

/** The visible prefix of any presented key (bootstrap keys from ADMIN_API_KEY may be free-form). */
function prefixOf(key: string): string {
  return KEY_RE.exec(key)?.[1] ?? `env-${hashKey(key).slice(0, 8)}`;
}

export interface CreateKeyInput {
  name: string;
  role: Role;
  patientIds?: number[] | null;
  expiresAt?: Date | null;
}

/** Public description of a key: never the secret or its hash. */
export interface KeyInfo {
  id: number;
  name: string;
  prefix: string;
  role: Role;
  patientIds: number[] | null;
  bootstrap: boolean;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

export function toKeyInfo(row: ApiKeyRow): KeyInfo {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    role: row.role as Role,
    patientIds: row.patientIds ?? null,
    bootstrap: row.bootstrap,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    revokedAt: row.revokedAt,
  };
}

function checkScope(input: CreateKeyInput): void {
  const ids = input.patientIds ?? null;
  if (input.role === 'patient' && (ids === null || ids.length !== 1)) {
    throw new ValidationError([
      { field: 'body.patient_ids', message: 'a patient key must be bound to exactly one patient' },
    ]);
  }
  if ((input.role === 'admin' || input.role === 'metrics') && ids !== null) {
    throw new ValidationError([
      {
        field: 'body.patient_ids',
        message: `${input.role === 'admin' ? 'an' : 'a'} ${input.role} key cannot be limited to patients`,
      },
    ]);
  }
  if (ids !== null && ids.length === 0) {
    throw new ValidationError([
      { field: 'body.patient_ids', message: 'must list at least one patient, or be omitted' },
    ]);
  }
}

/** Creates a key and returns it with its secret, which is shown only this once. */
export async function createKey(deps: KeyDeps, input: CreateKeyInput): Promise<{ key: string; info: KeyInfo }> {
  if (!isRole(input.role)) throw new ValidationError([{ field: 'body.role', message: 'is not a known role' }]);
  const name = input.name.trim();
  if (name.length === 0) throw new ValidationError([{ field: 'body.name', message: 'must not be blank' }]);
  checkScope(input);
  const now = (deps.now ?? (() => new Date()))();
  if (input.expiresAt && input.expiresAt.getTime() <= now.getTime()) {
    throw new ValidationError([{ field: 'body.expires_at', message: 'must be in the future' }]);
  }
  const ids = input.patientIds ? [...new Set(input.patientIds)].sort((a, b) => a - b) : null;
  if (ids) {
    const found = new Set(await existingPatientIds(deps.db, ids));
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length > 0) {
      throw new ValidationError([
        { field: 'body.patient_ids', message: `no patient with id ${missing.slice(0, 10).join(', ')}` },
      ]);
    }
  }
  const { key, prefix } = generateKey();
  const row = await insertKey(deps.db, {
    name,
    prefix,
    keyHash: hashKey(key),
    role: input.role,
    patientIds: ids,
    expiresAt: input.expiresAt ?? null,
  });
  return { key, info: toKeyInfo(row) };
}

export async function listKeyInfos(deps: KeyDeps): Promise<KeyInfo[]> {
  return (await listKeys(deps.db)).map(toKeyInfo);
}

export async function listKeyInfosPage(
  deps: KeyDeps,
  page: number,
  size: number,
): Promise<{ items: KeyInfo[]; total: number }> {
  const { rows, total } = await listKeysPage(deps.db, size, (page - 1) * size);
  return { items: rows.map(toKeyInfo), total };
}

/**
 * Revokes a key; takes effect at once on this process (the cache is cleared). Revoking an
 * already revoked key returns it unchanged. The last usable admin key cannot be revoked,
 * so an installation cannot lock itself out.
 */
export async function revokeKeyById(deps: KeyDeps, id: number): Promise<KeyInfo> {
  const now = (deps.now ?? (() => new Date()))();
  const row = await deps.db.transaction(async (tx) => {
    const current = await findKeyById(tx, id);
    if (!current) throw new NotFoundError('API key');
    if (current.revokedAt) return current;
    if (current.role === 'admin') {
      const usable = await usableAdminKeyIds(tx, now);
      if (usable.length === 1 && usable[0] === id) {
        throw new ConflictError('This is the last usable admin key; create another admin key before revoking it');
      }
    }
    return revokeKey(tx, id, now);
  });
  deps.cache?.clear();
  if (!row) throw new NotFoundError('API key');
  return toKeyInfo(row);
}

/** The hash a presented key would be stored under, or undefined for a length no key has. */
export function presentedKeyHash(presented: string): string | undefined {
  return presented.length < 16 || presented.length > 256 ? undefined : hashKey(presented);
}

/** Resolves a presented key to a principal, or undefined when unknown, revoked or expired. */
export async function authenticateKey(deps: KeyDeps, presented: string): Promise<Principal | undefined> {
  const hash = presentedKeyHash(presented);
  return hash === undefined ? undefined : authenticateKeyHash(deps, hash);
}

/** {@link authenticateKey} for a key already hashed with {@link presentedKeyHash}. */
export async function authenticateKeyHash(deps: KeyDeps, hash: string): Promise<Principal | undefined> {
  let row = deps.cache?.get(hash);
  if (!row) {
    // Taken before the lookup: a revocation clearing the cache meanwhile makes set() a no-op.
    const generation = deps.cache?.generation;
    row = await findKeyByHash(deps.db, hash);
    if (row && !row.revokedAt) deps.cache?.set(hash, row, generation);
  }
  const now = (deps.now ?? (() => new Date()))();
  if (!row || row.revokedAt || (row.expiresAt && row.expiresAt.getTime() <= now.getTime())) {
    deps.cache?.forgetVerified(hash);
    return undefined;
  }
  deps.cache?.markVerified(hash);
  return { keyId: row.id, role: row.role as Role, patientIds: row.patientIds ?? null };
}

/**
 * Whether the key with this hash ({@link presentedKeyHash}) authenticated successfully on
 * this instance lately (see {@link KeyCache.recentlyVerified}); false without a cache or a
 * hash. Does not authenticate.
 */
export function isRecentlyVerifiedKey(deps: KeyDeps, hash: string | undefined): boolean {
  return hash !== undefined && deps.cache?.recentlyVerified(hash) === true;
}

/**
 * Makes sure an admin key exists. ADMIN_API_KEY, when set, is the bootstrap key on every
 * start (a changed value replaces the old one). Without it, and with no admin key at all,
 * a key is generated and returned so the caller can print it once.
 */
export async function ensureBootstrapAdmin(
  deps: KeyDeps,
  adminApiKey: string | undefined,
): Promise<{ generatedKey?: string }> {
  return deps.db.transaction(async (tx) => {
    const now = (deps.now ?? (() => new Date()))();
    const current = await activeBootstrapKeys(tx);
    if (adminApiKey) {
      const hash = hashKey(adminApiKey);
      if (current.some((k) => k.keyHash === hash)) return {};
      for (const k of current) await revokeKey(tx, k.id, now);
      const existing = await findKeyByHash(tx, hash);
      if (existing) {
        // The same value was used before and then replaced: it stays revoked.
        deps.log?.warn('ADMIN_API_KEY was used and revoked before; choose a new value');
        return {};
      }
      await insertKey(tx, {
        name: 'bootstrap admin (ADMIN_API_KEY)',
        prefix: prefixOf(adminApiKey),
        keyHash: hash,
        role: 'admin',
        bootstrap: true,
      });
      deps.log?.info('bootstrap admin key from ADMIN_API_KEY installed');
      return {};
    }
    if ((await activeAdminKeyCount(tx)) > 0) return {};
    const { key, prefix } = generateKey();
    await insertKey(tx, {
      name: 'bootstrap admin (generated)',
      prefix,
      keyHash: hashKey(key),
      role: 'admin',
      bootstrap: true,
    });
    return { generatedKey: key };
  });
}
