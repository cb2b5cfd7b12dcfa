/** Reading the audit trail. There is deliberately no update or delete. */
import type { Db } from '../../db/database.js';
import { ValidationError } from '../../domain/errors.js';
import { parseTimestamp } from '../../domain/timestamps.js';
import * as repo from './audit.repository.js';
import type { AuditEventDto, AuditQueryT } from './audit.schemas.js';

function toDate(field: string, text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const ms = parseTimestamp(text);
  if (ms === undefined) throw new ValidationError([{ field, message: 'must be an ISO 8601 date-time' }]);
  return new Date(ms);
}

export function toAuditEventDto(r: repo.AuditEventRow): AuditEventDto {
  return {
    id: r.id,
    at: r.at.toISOString(),
    key_id: r.keyId,
    role: r.role,
    action: r.action,
    method: r.method,
    route: r.route,
    status: r.status,
    outcome: r.outcome,
    patient_ids: r.patientIds,
    record_ids: r.recordIds,
    request_id: r.requestId,
    client_ip: r.clientIp,
    detail: (r.detail as Record<string, unknown> | null) ?? null,
  };
}

export async function listAudit(
  deps: { db: Db },
  q: AuditQueryT,
): Promise<{ page: number; size: number; total: number; items: AuditEventDto[] }> {
  const { rows, total } = await repo.listAuditEvents(
    deps.db,
    {
      patientId: q.patient_id,
      keyId: q.key_id,
      from: toDate('query.from', q.from),
      to: toDate('query.to', q.to),
      outcome: q.outcome,
    },
    q.size,
    (q.page - 1) * q.size,
  );
  return { page: q.page, size: q.size, total, items: rows.map(toAuditEventDto) };
}
