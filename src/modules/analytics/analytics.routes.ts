/** /api/v1/analytics routes. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { principalOf, type RoutePluginOptions } from '../../http/types.js';
import { emptyQueryMeansAbsent } from '../../http/validation.js';
import * as runs from './analytics.runs.service.js';
import { listAnalyticsSchema, listRunsSchema, runAnalyticsSchema } from './analytics.schemas.js';
import * as service from './analytics.service.js';

export async function analyticsRoutes(app: FastifyInstance, { deps }: RoutePluginOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const svc = { db: deps.database.db };
  const jobDeps = {
    db: deps.database.jobsDb,
    log: deps.log,
    now: deps.now,
    instanceId: deps.instanceId,
    metrics: deps.metrics,
  };

  r.get(
    '/analytics',
    {
      schema: listAnalyticsSchema,
      config: { permission: 'analytics:read' },
      preValidation: emptyQueryMeansAbsent('metric', 'type'),
    },
    async (req, reply) => {
      // Recorded first, so a refused request (404) still names the patient it asked for.
      if (req.query.patient_id !== undefined) req.auditPatients([req.query.patient_id]);
      const { items, total } = await service.listAnalytics(svc, principalOf(req).patientIds, req.query);
      if (req.query.patient_id === undefined) req.auditPatients([...new Set(items.map((i) => i.patient_id))]);
      reply.header('x-total-count', String(total));
      return items;
    },
  );

  r.post(
    '/analytics/run',
    {
      schema: runAnalyticsSchema,
      config: { permission: 'analytics:run' },
      // A POST without a body means "all defaults".
      preValidation: async (req) => {
        if (req.body === undefined || req.body === null) req.body = {};
      },
    },
    async (req) => {
      const run = await runs.triggerRun(jobDeps, req.body?.version ?? deps.config.analyticsVersion);
      req.auditDetail({ analytics_run_id: run.id, version: run.version });
      return run;
    },
  );

  r.get('/analytics/runs', { schema: listRunsSchema, config: { permission: 'analytics:run' } }, async (req, reply) => {
    reply.header('cache-control', 'no-store');
    return runs.listRuns(svc, req.query);
  });
}
