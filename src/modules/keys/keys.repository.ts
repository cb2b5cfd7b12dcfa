/** Drizzle access to the api_keys table. */
import { and, asc, count, eq, gt, inArray, isNull, or } from 'drizzle-orm';
import type { DbOrTx } from '../../db/database.js';
import { apiKeys, patients } from '../../db/schema.js';

export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type NewApiKeyRow = typeof apiKeys.$inferInsert;

export async function insertKey(db: DbOrTx, row: NewApiKeyRow): Promise<ApiKeyRow> {
  const [created] = await db.insert(apiKeys).values(row).returning();
  if (!created) throw new Error('insert returned no row');
  return created;
}

export async function findKeyByHash(db: DbOrTx, keyHash: string): Promise<ApiKeyRow | undefined> {
  const [row] = await db.select().from(apiKeys).where(eq(apiKeys.keyHash, keyHash)).limit(1);
  return row;
}

export async function listKeys(db: DbOrTx): Promise<ApiKeyRow[]> {
  return db.select().from(apiKeys).orderBy(asc(apiKeys.id));
}

export async function listKeysPage(
  db: DbOrTx,
  limit: number,
  offset: number,
): Promise<{ rows: ApiKeyRow[]; total: number }> {
  const [rows, totals] = await Promise.all([
    db.select().from(apiKeys).orderBy(asc(apiKeys.id)).limit(limit).offset(offset),
    db.select({ n: count() }).from(apiKeys),
  ]);
  return { rows, total: Number(totals[0]?.n ?? 0) };
}

/** Which of `ids` exist as patients. */
export async function existingPatientIds(db: DbOrTx, ids: number[]): Promise<number[]> {
  if (ids.length === 0) return [];
  const rows = await db.select({ id: patients.id }).from(patients).where(inArray(patients.id, ids));
  return rows.map((r) => r.id);
}

/** Admin keys that can still be used (not revoked, not expired). */
export async function usableAdminKeyIds(db: DbOrTx, now: Date): Promise<number[]> {
  const rows = await db
    .select({ id: apiKeys.id })
    .from(apiKeys)
    .where(
      and(
        eq(apiKeys.role, 'admin'),
        isNull(apiKeys.revokedAt),
        or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, now)),
      ),
    );
  return rows.map((r) => r.id);
}

export async function findKeyById(db: DbOrTx, id: number): Promise<ApiKeyRow | undefined> {
  const [row] = await db.select().from(apiKeys).where(eq(apiKeys.id, id)).limit(1);
  return row;
}

/** Marks a key revoked; returns the row, or undefined when it does not exist. */
export async function revokeKey(db: DbOrTx, id: number, at: Date): Promise<ApiKeyRow | undefined> {
  const [row] = await db
    .update(apiKeys)
    .set({ revokedAt: at })
    .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
    .returning();
  return row ?? (await findKeyById(db, id));
}

export async function activeBootstrapKeys(db: DbOrTx): Promise<ApiKeyRow[]> {
  return db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.bootstrap, true), isNull(apiKeys.revokedAt)));
}

export async function activeAdminKeyCount(db: DbOrTx): Promise<number> {
  const rows = await db
    .select({ id: apiKeys.id })
    .from(apiKeys)
    .where(and(eq(apiKeys.role, 'admin'), isNull(apiKeys.revokedAt)));
  return rows.length;
}
