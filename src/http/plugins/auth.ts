/**
 * Authentication and function-level authorization for every route that declares a
 * `config.permission`. Runs in onRequest, before body parsing and validation, so a
 * request without a valid key gets 401 whatever its body or parameters.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Db } from '../../db/database.js';
import { type Permission, type Principal, roleHas } from '../../modules/keys/keys.roles.js';
import { authenticateKey } from '../../modules/keys/keys.service.js';
import { sendProblem } from './problem.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller; set on every route that declares a permission. */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Permission required to call the route; routes without one are public. */
    permission?: Permission;
  }
}

/** Query parameters that look like credentials: refused, because URLs end up in logs. */
const CREDENTIAL_PARAMS = /(?:^|[?&])(api[_-]?key|key|token|access[_-]?token|apikey|x-api-key)=/i;

export interface AuthPluginOptions {
  db: Db;
  now: () => Date;
  /** Called for every denied request (audit hook). */
  onDenied?: (request: FastifyRequest, status: number, reason: string) => Promise<void>;
}

/** Extracts the presented key from Authorization: Bearer or X-API-Key. */
export function presentedKey(request: FastifyRequest): string | undefined {
  const auth = request.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  const header = request.headers['x-api-key'];
  return typeof header === 'string' && header.length > 0 ? header : undefined;
}

async function authPlugin(app: FastifyInstance, opts: AuthPluginOptions): Promise<void> {
  app.decorateRequest('principal', null);

  const deny = async (request: FastifyRequest, reply: FastifyReply, status: number, code: string, detail: string) => {
    await opts.onDenied?.(request, status, code);
    if (status === 401) reply.header('www-authenticate', 'Bearer realm="patientpulse"');
    return sendProblem(request, reply, status, code, detail);
  };

  app.addHook('onRequest', async (request, reply) => {
    const permission = request.routeOptions.config.permission;
    if (!permission) return;
    const q = request.url.indexOf('?');
    if (q !== -1 && CREDENTIAL_PARAMS.test(request.url.slice(q))) {
      return deny(
        request,
        reply,
        401,
        'key_in_query',
        'API keys are not accepted in the URL; send them in the Authorization or X-API-Key header',
      );
    }
    const key = presentedKey(request);
    if (!key) return deny(request, reply, 401, 'unauthorized', 'A valid API key is required');
    const principal = await authenticateKey({ db: opts.db, now: opts.now }, key);
    if (!principal) return deny(request, reply, 401, 'unauthorized', 'The API key is not valid, expired or revoked');
    request.principal = principal;
    if (!roleHas(principal.role, permission)) {
      return deny(request, reply, 403, 'forbidden', 'This API key is not allowed to do this');
    }
  });
}

export default fp(authPlugin, { name: 'auth', dependencies: ['problem'] });
