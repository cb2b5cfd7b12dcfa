/**
 * Audit trail: exactly one event for every request to a route that needs a key (patient
 * data, key management, the audit trail itself), whether it was served, refused or
 * failed; successful /metrics scrapes are the exception (no patient data).
 *
 * The event is written in onSend, after the outcome is known and before the response
 * leaves: the request awaits its own event's commit (group-committed with concurrent
 * ones, see AuditWriter). When the event cannot be stored the response is replaced by a
 * 503 problem, so no data leaves unrecorded.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { NewAuditEvent } from '../../modules/audit/audit.repository.js';
import type { AuditWriter } from '../../modules/audit/audit.writer.js';
import { isDatabaseUnavailable, problemBody } from './problem.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Patient ids and record ids this request touched, for the audit event. */
    auditInfo: { patientIds: number[]; recordIds: number[]; detail?: Record<string, unknown> } | null;
    auditPatients(ids: readonly number[]): void;
    auditRecords(ids: readonly number[]): void;
    /** Extra PHI-free facts for the event (reason codes, key ids, counts). */
    auditDetail(detail: Record<string, unknown>): void;
    /** Set for repeated rate-limit refusals, which are not recorded one by one. */
    auditSkip: boolean;
    /** Set once this request's event has been handed to the writer. */
    auditDone: boolean;
  }
}

export interface AuditPluginOptions {
  writer: AuditWriter;
  now: () => Date;
}

function info(request: FastifyRequest) {
  if (!request.auditInfo) request.auditInfo = { patientIds: [], recordIds: [] };
  return request.auditInfo;
}

/** The outcome recorded for a status code. */
export function outcomeOf(status: number): string {
  if (status < 400) return 'allowed';
  if (status === 401 || status === 403) return 'denied';
  if (status === 404) return 'not_found';
  if (status === 429) return 'rate_limited';
  return status >= 500 ? 'error' : 'rejected';
}

const isId = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n > 0;

/** Builds the audit row for a finished or refused request. */
export function auditEventFor(request: FastifyRequest, status: number, at: Date = new Date()): NewAuditEvent {
  const a = request.auditInfo;
  const route = request.routeOptions.url ?? null;
  const patientIds = a ? [...new Set(a.patientIds.filter(isId))] : [];
  const recordIds = a ? [...new Set(a.recordIds.filter(isId))] : [];
  return {
    at,
    keyId: request.principal?.keyId ?? null,
    role: request.principal?.role ?? null,
    action: `${request.method} ${route ?? '(unmatched)'}`,
    method: request.method,
    route,
    status,
    outcome: outcomeOf(status),
    // Path and query ids are only trustworthy once validated (ints in range).
    patientIds: patientIds.length ? patientIds.filter((id) => id <= 2147483647) : null,
    recordIds: recordIds.length ? recordIds : null,
    requestId: String(request.id),
    clientIp: request.ip,
    detail: a?.detail ?? null,
  };
}

async function auditPlugin(app: FastifyInstance, opts: AuditPluginOptions): Promise<void> {
  app.decorateRequest('auditInfo', null);
  app.decorateRequest('auditSkip', false);
  app.decorateRequest('auditDone', false);
  app.decorateRequest('auditPatients', function (this: FastifyRequest, ids: readonly number[]) {
    info(this).patientIds.push(...ids);
  });
  app.decorateRequest('auditRecords', function (this: FastifyRequest, ids: readonly number[]) {
    info(this).recordIds.push(...ids);
  });
  app.decorateRequest('auditDetail', function (this: FastifyRequest, detail: Record<string, unknown>) {
    info(this).detail = { ...info(this).detail, ...detail };
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const permission = request.routeOptions.config.permission;
    if (!permission || request.auditDone || request.auditSkip) return payload;
    const status = reply.statusCode;
    if (permission === 'metrics:read' && status < 400) return payload;
    request.auditDone = true;
    const event = auditEventFor(request, status, opts.now());
    try {
      await opts.writer.record(event);
      return payload;
    } catch (err) {
      // Already a server error (typically the database is down, and the audit insert failed
      // for the same reason): the request has failed either way, no data leaves; keep its answer.
      const failed = status >= 500;
      // Ids only (no PHI): enough to reconstruct the missing event from the logs.
      request.log.error(
        {
          err,
          audit: {
            key_id: event.keyId,
            action: event.action,
            status,
            patient_ids: event.patientIds,
            record_ids: event.recordIds,
          },
        },
        failed
          ? 'audit event of a failed request could not be recorded'
          : 'audit event could not be recorded; response withheld',
      );
      if (failed) return payload;
      reply.removeHeader('x-total-count');
      // The database being down is the usual cause: say so, as every other route would.
      const down = isDatabaseUnavailable(err);
      reply
        .code(503)
        .header('retry-after', down ? '2' : '5')
        .type('application/problem+json; charset=utf-8');
      return JSON.stringify(
        down
          ? problemBody(request, 503, 'database_unavailable', 'The database is unavailable; retry shortly')
          : problemBody(request, 503, 'audit_unavailable', 'The access could not be recorded; retry shortly'),
      );
    }
  });
}

export default fp(auditPlugin, { name: 'audit', dependencies: ['problem'] });
