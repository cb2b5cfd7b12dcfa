/**
 * Security headers on every response, no-store caching of API responses, CORS closed
 * unless an allowlist is configured, HSTS only when served over TLS.
 */
import cors from '@fastify/cors';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

/**
 * The Content-Security-Policy: same origin only (the dashboard and the documentation pages
 * load nothing from elsewhere), inline styles for Swagger UI and ReDoc, workers from blob:
 * for ReDoc, no plugins, no framing.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "base-uri 'self'",
  "font-src 'self' data:",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "img-src 'self' data:",
  "object-src 'none'",
  "script-src 'self'",
  "script-src-attr 'none'",
  "style-src 'self' 'unsafe-inline'",
  "worker-src 'self' blob:",
  "connect-src 'self'",
].join(';');

/**
 * The headers helmet 8 sends with its defaults and the policy above (HSTS aside, which is
 * set only over TLS), in helmet's order. They are the same for every response, so they are
 * written as constants: @fastify/helmet rebuilt the middleware and re-parsed the policy
 * on every request.
 */
export const SECURITY_HEADERS: readonly (readonly [string, string])[] = [
  ['Content-Security-Policy', CONTENT_SECURITY_POLICY],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['Origin-Agent-Cluster', '?1'],
  ['Referrer-Policy', 'no-referrer'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-DNS-Prefetch-Control', 'off'],
  ['X-Download-Options', 'noopen'],
  ['X-Frame-Options', 'SAMEORIGIN'],
  ['X-Permitted-Cross-Domain-Policies', 'none'],
  ['X-XSS-Protection', '0'],
];

/**
 * Whether a response must not be stored by browsers or proxies: anything from a route that
 * needs a key (patient data, new key secrets), any route under /api and /metrics, and
 * requests no route matched. Decided from the matched route, not the URL text, which the
 * router decodes (`/%61pi/...`) and may receive in absolute form (`http://host/api/...`).
 */
export function neverCached(request: FastifyRequest): boolean {
  const route = request.routeOptions;
  if (route.config?.permission) return true;
  return route.url === undefined || route.url.startsWith('/api/') || route.url === '/metrics';
}

async function securityPlugin(app: FastifyInstance, opts: { corsOrigins: string[] }): Promise<void> {
  // On the raw response, before anything else: routes and errors can still override them.
  app.addHook('onRequest', (_request, reply, done) => {
    const res = reply.raw;
    for (const [name, value] of SECURITY_HEADERS) res.setHeader(name, value);
    done();
  });
  if (opts.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: opts.corsOrigins,
      methods: ['GET', 'POST', 'PATCH', 'DELETE'],
      allowedHeaders: ['authorization', 'x-api-key', 'content-type', 'x-request-id'],
      exposedHeaders: ['x-total-count', 'x-request-id'],
    });
  }
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', String(request.id));
    if (neverCached(request)) reply.header('cache-control', 'no-store');
    if (request.protocol === 'https') reply.header('strict-transport-security', 'max-age=31536000; includeSubDomains');
    done(null, payload);
  });
}

export default fp(securityPlugin, { name: 'security' });
