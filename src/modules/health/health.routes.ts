/** Liveness and readiness probes: public and free of PHI. */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { RoutePluginOptions } from '../../http/types.js';

const Health = Type.Object({ status: Type.String(), checks: Type.Optional(Type.Record(Type.String(), Type.String())) });

/** Probes arrive every few seconds from every load balancer: no request log lines unless something is wrong. */
export const PROBE_LOG_LEVEL = 'warn';

/** Readiness state owned by the server process (startup and shutdown flip it). */
export interface Readiness {
  /** Migrations applied and the startup load finished. */
  started: boolean;
  /** Shutdown has begun. */
  draining: boolean;
}

export async function healthRoutes(
  app: FastifyInstance,
  { deps, readiness }: RoutePluginOptions & { readiness: Readiness },
): Promise<void> {
  app.get(
    '/healthz',
    {
      schema: { tags: ['health'], summary: 'The process is alive', response: { 200: Health } },
      logLevel: PROBE_LOG_LEVEL,
    },
    async () => ({
      status: 'ok',
    }),
  );

  app.get(
    '/readyz',
    {
      schema: { tags: ['health'], summary: 'Ready to serve traffic', response: { 200: Health, 503: Health } },
      logLevel: PROBE_LOG_LEVEL,
    },
    async (_req, reply) => {
      const checks: Record<string, string> = {
        startup: readiness.started ? 'ok' : 'pending',
        shutdown: readiness.draining ? 'draining' : 'ok',
      };
      try {
        await Promise.race([
          deps.database.ping(),
          new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000).unref()),
        ]);
        checks.database = 'ok';
      } catch {
        checks.database = 'unreachable';
      }
      const ready = Object.values(checks).every((v) => v === 'ok');
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
    },
  );
}
