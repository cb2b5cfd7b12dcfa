/** Drizzle access to the append-only audit_events table (insert and read only). */
import { and, count, desc, eq, gte, lt, type SQL, sql } from 'drizzle-orm';
import type { DbOrTx } from '../../db/database.js';
import { auditEvents } from '../../db/schema.js';

export type AuditEventRow = typeof auditEvents.$inferSelect;
export type NewAuditEvent = typeof auditEvents.$inferInsert;

export async function insertAuditEvents(db: DbOrTx, events: NewAuditEvent[]): Promise<void> {
  if (events.length === 0) return;
  await db.insert(auditEvents).values(events);
}

export interface AuditFilter {
  patientId?: number | undefined;
  keyId?: number | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
  outcome?: string | undefined;
}

function where(f: AuditFilter): SQL | undefined {
  return and(
    // Uses the GIN index on patient_ids.
    f.patientId !== undefined ? sql`${auditEvents.patientIds} @> ${sql.param([f.patientId])}::int[]` : undefined,
    f.keyId !== undefined ? eq(auditEvents.keyId, f.keyId) : undefined,
    f.from ? gte(auditEvents.at, f.from) : undefined,
    f.to ? lt(auditEvents.at, f.to) : undefined,
    f.outcome ? eq(auditEvents.outcome, f.outcome) : undefined,
  );
}

/** Newest first, with the total number of matching events. */
export async function listAuditEvents(
  db: DbOrTx,
  f: AuditFilter,
  limit: number,
  offset: number,
): Promise<{ rows: AuditEventRow[]; total: number }> {
  const w = where(f);
  const [rows, totals] = await Promise.all([
    db
      .select()
      .from(auditEvents)
      .where(w)
      .orderBy(sql`${auditEvents.at} desc nulls last`, desc(auditEvents.id)) // matches audit_events_at_idx
      .limit(limit)
      .offset(offset),
    db.select({ n: count() }).from(auditEvents).where(w),
  ]);
  return { rows, total: Number(totals[0]?.n ?? 0) };
}
