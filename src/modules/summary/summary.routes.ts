/** /api/v1/patients/summary and /api/v1/patients/{id}/summary. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { principalOf, type RoutePluginOptions } from '../../http/types.js';
import { getSummarySchema, listSummariesSchema } from './summary.schemas.js';
import * as service from './summary.service.js';

export async function summaryRoutes(app: FastifyInstance, { deps }: RoutePluginOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const svc = { db: deps.database.db, now: deps.now };

  // The summary shows readings, so it needs readings:read (every role with it also reads patients).
  r.get('/patients/summary', { schema: listSummariesSchema, config: { permission: 'readings:read' } }, async (req) => {
    const page = await service.listSummaries(svc, principalOf(req).patientIds, req.query);
    req.auditPatients(page.items.map((i) => i.patient.id));
    return page;
  });

  r.get(
    '/patients/:id/summary',
    { schema: getSummarySchema, config: { permission: 'readings:read', patientParam: 'id' } },
    async (req) => {
      req.auditPatients([req.params.id]);
      return service.getSummary(svc, principalOf(req).patientIds, req.params.id);
    },
  );
}
