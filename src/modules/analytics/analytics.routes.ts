/** /api/v1/analytics routes. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { principalOf, type RoutePluginOptions } from '../../http/types.js';
import { listAnalyticsSchema } from './analytics.schemas.js';
import * as service from './analytics.service.js';

export async function analyticsRoutes(app: FastifyInstance, { deps }: RoutePluginOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const svc = { db: deps.database.db };

  r.get('/analytics', { schema: listAnalyticsSchema, config: { permission: 'analytics:read' } }, async (req, reply) => {
    const { items, total } = await service.listAnalytics(svc, principalOf(req).patientIds, req.query);
    req.auditPatients([...new Set(items.map((i) => i.patient_id))]);
    reply.header('x-total-count', String(total));
    return items;
  });
}
