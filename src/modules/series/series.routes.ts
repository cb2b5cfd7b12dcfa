/** /api/v1/biometrics/series: hourly or daily aggregates for charts. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { principalOf, type RoutePluginOptions } from '../../http/types.js';
import { seriesSchema } from './series.schemas.js';
import * as service from './series.service.js';

export async function seriesRoutes(app: FastifyInstance, { deps }: RoutePluginOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const svc = { db: deps.database.db };

  r.get('/biometrics/series', { schema: seriesSchema, config: { permission: 'readings:read' } }, async (req) => {
    req.auditPatients([req.query.patient_id]);
    return service.readingSeries(svc, principalOf(req).patientIds, req.query);
  });
}
