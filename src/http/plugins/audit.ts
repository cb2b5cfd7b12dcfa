/**
 * Audit trail of every access to patient data and every denied attempt. The event is
 * written before the response is sent: when it cannot be recorded, the request fails.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Db } from '../../db/database.js';
import { insertAuditEvents, type NewAuditEvent } from '../../modules/audit/audit.repository.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Patient ids and record ids this request touched, for the audit event. */
    auditInfo: { patientIds: number[]; recordIds: number[]; detail?: Record<string, unknown> } | null;
    auditPatients(ids: readonly number[]): void;
    auditRecords(ids: readonly number[]): void;
    auditDetail(detail: Record<string, unknown>): void;
  }
}

export interface AuditPluginOptions {
  db: Db;
}

function info(request: FastifyRequest) {
  if (!request.auditInfo) request.auditInfo = { patientIds: [], recordIds: [] };
  return request.auditInfo;
}

function outcomeOf(status: number): string {
  if (status < 400) return 'allowed';
  if (status === 401 || status === 403) return 'denied';
  if (status === 404) return 'not_found';
  if (status === 429) return 'rate_limited';
  return status >= 500 ? 'error' : 'rejected';
}

/** Builds the audit row for a finished or denied request. */
export function auditEventFor(request: FastifyRequest, status: number): NewAuditEvent {
  const a = request.auditInfo;
  const route = request.routeOptions.url ?? request.url.split('?')[0] ?? '';
  return {
    keyId: request.principal?.keyId ?? null,
    role: request.principal?.role ?? null,
    action: `${request.method} ${route}`,
    method: request.method,
    route,
    status,
    outcome: outcomeOf(status),
    patientIds: a?.patientIds.length ? [...new Set(a.patientIds)] : null,
    recordIds: a?.recordIds.length ? [...new Set(a.recordIds)] : null,
    requestId: String(request.id),
    clientIp: request.ip,
    detail: a?.detail ?? null,
  };
}

async function auditPlugin(app: FastifyInstance, opts: AuditPluginOptions): Promise<void> {
  app.decorateRequest('auditInfo', null);
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
    // Only authenticated routes are audited here; denials before authentication are
    // recorded by the auth plugin itself.
    if (!request.routeOptions.config.permission || !request.principal) return payload;
    if (request.routeOptions.config.permission === 'metrics:read') return payload;
    try {
      await insertAuditEvents(opts.db, [auditEventFor(request, reply.statusCode)]);
    } catch (err) {
      // Already an error response (typically the database is unreachable, and the audit
      // insert failed for the same reason): the request has failed either way, and
      // throwing again would replace the 503 with a 500. The log line keeps the trace.
      if (reply.statusCode < 500) throw err;
      request.log.error({ err, status: reply.statusCode, keyId: request.principal.keyId }, 'audit event not recorded');
    }
    return payload;
  });
}

export default fp(auditPlugin, { name: 'audit' });
