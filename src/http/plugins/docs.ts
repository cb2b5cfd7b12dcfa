/**
 * OpenAPI document, Swagger UI (/docs) and ReDoc (/redoc), all served from local
 * packages: no CDN, since hospital networks are often closed.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

const require = createRequire(import.meta.url);

const REDOC_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>PatientPulse API – ReDoc</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><redoc spec-url="/openapi.json"></redoc><script src="/redoc/redoc.standalone.js"></script></body></html>`;

async function docsPlugin(app: FastifyInstance, opts: { version: string }): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'PatientPulse API',
        version: opts.version,
        description:
          'Remote patient monitoring: patients, biometric readings (glucose, blood pressure, weight) and hourly analytics. ' +
          'Every /api/v1 route needs an API key in `Authorization: Bearer <key>` or `X-API-Key`.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        },
      },
      security: [{ bearer: [] }, { apiKey: [] }],
    },
    transform: ({ schema, url, route }) => {
      // Public routes carry no permission: mark them as needing no key.
      const isPublic = !(route.config as { permission?: string } | undefined)?.permission;
      return { schema: isPublic ? { ...schema, security: [] } : schema, url } as never;
    },
  });
  // No plugin CSP (staticCSP): its policy allows https: fonts and styles and asks browsers
  // to upgrade requests to https, which breaks /docs on a plain-http intranet address. The
  // application-wide policy (same origin only) covers these pages.
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: false,
    uiConfig: { persistAuthorization: false, validatorUrl: null },
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  const redocBundle = require.resolve('redoc/bundles/redoc.standalone.js');
  app.get('/redoc', { schema: { hide: true } }, async (_req, reply) =>
    reply.type('text/html; charset=utf-8').send(REDOC_HTML),
  );
  app.get('/redoc/redoc.standalone.js', { schema: { hide: true } }, async (_req, reply) =>
    reply
      .type('application/javascript; charset=utf-8')
      .header('cache-control', 'public, max-age=86400')
      .send(await readFile(redocBundle)),
  );
}

export default fp(docsPlugin, { name: 'docs' });
