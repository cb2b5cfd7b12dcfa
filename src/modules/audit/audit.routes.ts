/** GET /api/v1/audit: the audit trail, for keys with audit:read (admins). */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { RoutePluginOptions } from '../../http/types.js';
import { listAuditSchema } from './audit.schemas.js';
import * as service from './audit.service.js';

export async function auditRoutes(app: FastifyInstance, { deps }: RoutePluginOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const svc = { db: deps.database.db };

  r.get('/audit', { schema: listAuditSchema, config: { permission: 'audit:read' } }, async (req) => {
    if (req.query.patient_id !== undefined) req.auditPatients([req.query.patient_id]);
    return service.listAudit(svc, req.query);
  });
}
