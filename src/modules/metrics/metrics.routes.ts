/**
 * GET /metrics (Prometheus text format) and the HTTP instrumentation behind it. Served on
 * the main port to keys with `metrics:read` (admin and metrics roles), or to anyone when
 * METRICS_PUBLIC is set. Scrapes are not audited: they touch no patient data.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Type } from 'typebox';
import { ProblemSchema } from '../../http/common.schemas.js';
import type { RoutePluginOptions } from '../../http/types.js';
import { PROBE_LOG_LEVEL } from '../health/health.routes.js';

/** Route label for requests that matched no route: never the raw URL (unbounded label values). */
const UNMATCHED = 'unmatched';

async function metricsPlugin(app: FastifyInstance, { deps }: RoutePluginOptions): Promise<void> {
  const { metrics } = deps;

  app.addHook('onResponse', (request, reply, done) => {
    const labels = {
      method: request.method,
      route: request.routeOptions.url ?? UNMATCHED,
      status_code: String(reply.statusCode),
    };
    metrics.httpRequestsTotal.inc(labels);
    metrics.httpRequestDuration.observe(labels, reply.elapsedTime / 1000);
    done();
  });

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics',
        description:
          'Prometheus text exposition format. Needs a key with the `metrics:read` permission ' +
          '(admin or metrics role) unless the server runs with METRICS_PUBLIC=true.',
        produces: ['text/plain'],
        response: {
          200: Type.String({ description: 'Prometheus text format 0.0.4' }),
          401: ProblemSchema,
          403: ProblemSchema,
        },
      },
      config: deps.config.metricsPublic ? {} : { permission: 'metrics:read' },
      // Scraped every few seconds: like the probes, logged only when something is wrong.
      logLevel: PROBE_LOG_LEVEL,
    },
    async (_request, reply) => {
      const body = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).header('cache-control', 'no-store').send(body);
    },
  );
}

export default fp(metricsPlugin, { name: 'metrics', dependencies: ['auth'] });
