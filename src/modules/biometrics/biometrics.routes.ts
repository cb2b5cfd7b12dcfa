/** /api/v1/biometrics routes. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { principalOf, type RoutePluginOptions } from '../../http/types.js';
import { emptyQueryMeansAbsent } from '../../http/validation.js';
import { deleteSchema, historySchema, upsertSchema } from './biometrics.schemas.js';
import * as service from './biometrics.service.js';

export async function biometricsRoutes(app: FastifyInstance, { deps }: RoutePluginOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const svc = { db: deps.database.db, log: deps.log, now: deps.now };

  r.get(
    '/biometrics',
    {
      schema: historySchema,
      config: { permission: 'readings:read' },
      preValidation: emptyQueryMeansAbsent('type'),
    },
    async (req, reply) => {
      req.auditPatients([req.query.patient_id]);
      const page = await service.readingHistory(svc, principalOf(req).patientIds, req.query);
      req.auditRecords(page.items.map((i) => i.id));
      reply.header('cache-control', 'no-store');
      return page;
    },
  );

  r.post('/biometrics', { schema: upsertSchema, config: { permission: 'readings:write' } }, async (req) => {
    req.auditPatients([req.body.patient_id]);
    const { reading } = await service.upsertReading(svc, principalOf(req).patientIds, req.body);
    req.auditRecords([reading.id]);
    deps.metrics.readingsIngested.inc(1);
    return reading;
  });

  r.delete('/biometrics/:id', { schema: deleteSchema, config: { permission: 'readings:write' } }, async (req) => {
    req.auditRecords([req.params.id]);
    const result = await service.deleteReading(svc, principalOf(req).patientIds, req.params.id);
    req.auditPatients([result.patient_id]);
    return { ok: result.ok, deleted_id: result.deleted_id };
  });
}
