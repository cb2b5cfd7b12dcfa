/** Drizzle access to the append-only audit_events table (insert and read only). */
import { and, count, desc, eq, gte, lt, type SQL, sql } from 'drizzle-orm';
import type { DbOrTx } from '../../db/database.js';
import { rawStatement } from '../../db/prepared.js';
import { auditEvents } from '../../db/schema.js';

export type AuditEventRow = typeof auditEvents.$inferSelect;
export type NewAuditEvent = typeof auditEvents.$inferInsert;

/**
 * One statement for any number of events: they travel as one JSON array, so the text
 * never changes and is prepared once per connection, and nothing is built per row.
 */
const insertEventsStatement = rawStatement<{ events: string }>(
  'audit_events_insert',
  sql`
    insert into audit_events
      (at, key_id, role, action, method, route, status, outcome, patient_ids, record_ids, request_id, client_ip, detail)
    select coalesce(at, now()), key_id, role, action, method, route, status, outcome, patient_ids, record_ids,
      request_id, client_ip, detail
    from rows from (jsonb_to_recordset(${sql.placeholder('events')}::jsonb) as (
      at timestamptz, key_id int, role text, action text, method text, route text, status int, outcome text,
      patient_ids int[], record_ids bigint[], request_id text, client_ip text, detail jsonb
    )) with ordinality as e(at, key_id, role, action, method, route, status, outcome, patient_ids, record_ids,
      request_id, client_ip, detail, ord)
    order by ord`,
);

export async function insertAuditEvents(db: DbOrTx, events: NewAuditEvent[]): Promise<void> {
  if (events.length === 0) return;
  const rows = events.map((e) => ({
    at: e.at,
    key_id: e.keyId,
    role: e.role,
    action: e.action,
    method: e.method,
    route: e.route,
    status: e.status,
    outcome: e.outcome,
    patient_ids: e.patientIds,
    record_ids: e.recordIds,
    request_id: e.requestId,
    client_ip: e.clientIp,
    detail: e.detail,
  }));
  await insertEventsStatement.rows(db, { events: JSON.stringify(rows) });
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
