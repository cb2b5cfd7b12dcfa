/**
 * Authentication, abuse limits and function-level authorization for every route that
 * declares a `config.permission`. Runs in onRequest, before body parsing and validation,
 * so a request without a valid key gets 401 whatever its body or parameters. Public
 * routes (health, docs) only pass the per-address limit.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Db } from '../../db/database.js';
import type { KeyCache } from '../../modules/keys/keys.cache.js';
import { type Permission, type Principal, roleHas } from '../../modules/keys/keys.roles.js';
import { authenticateKeyHash, isRecentlyVerifiedKey, presentedKeyHash } from '../../modules/keys/keys.service.js';
import { sendProblem } from './problem.js';
import { type LimitDecision, type LimitSettings, registerLimiters } from './rate-limits.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller; set on every route that declares a permission. */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Permission required to call the route; routes without one are public. */
    permission?: Permission;
    /** The path parameter holding a patient id, named in the audit event of a refusal. */
    patientParam?: string;
    /** The query parameter holding patient ids, for the same purpose (default `patient_id`). */
    patientQuery?: string;
  }
}

/** Query parameters that look like credentials: refused, because URLs end up in logs. */
const CREDENTIAL_PARAMS = /(?:^|[?&])(api[_-]?key|key|token|access[_-]?token|apikey|x-api-key)=/i;
/** A PatientPulse key anywhere in the query string, whatever the parameter is called. */
const KEY_SHAPE = /pp_[A-Za-z0-9]{8}_[A-Za-z0-9_-]{20,}/;
const PREFIX_OF = /^pp_([A-Za-z0-9]{8})_/;
/** A patient id as a path or query value (or a FHIR reference `Patient/<id>`), in int4 range. */
const PLAIN_ID = /^(?:Patient\/)?([1-9]\d{0,9})$/;

/**
 * The patients a request refused before validation was aimed at: the route's patient query
 * parameter and its patient path parameter, where they are plain ids. The audit trail of a
 * patient then shows attempts by keys whose role may not read them at all.
 */
function targetedPatients(request: FastifyRequest): number[] {
  const { patientParam, patientQuery = 'patient_id' } = request.routeOptions.config;
  const query = (request.query as Record<string, unknown> | undefined)?.[patientQuery];
  const fromPath = patientParam ? (request.params as Record<string, unknown> | undefined)?.[patientParam] : undefined;
  const ids: number[] = [];
  for (const v of [...(Array.isArray(query) ? query : [query]), fromPath]) {
    const id = typeof v === 'string' ? Number(PLAIN_ID.exec(v)?.[1]) : Number.NaN;
    if (id <= 2147483647) ids.push(id);
  }
  return ids;
}

export interface AuthPluginOptions {
  db: Db;
  now: () => Date;
  keyCache?: KeyCache;
  limits: LimitSettings;
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

function keyInQuery(url: string): boolean {
  const q = url.indexOf('?');
  if (q === -1) return false;
  const query = url.slice(q);
  return CREDENTIAL_PARAMS.test(query) || KEY_SHAPE.test(query);
}

function tooMany(request: FastifyRequest, reply: FastifyReply, d: LimitDecision, detail: string): FastifyReply {
  // Only the first refusal per client and window is audited: the limit protects the
  // database, and an audit row per refused request would undo that.
  if (!d.firstRefusal) request.auditSkip = true;
  request.auditDetail({ reason: 'rate_limited' });
  reply.header('retry-after', String(d.retryAfterSeconds));
  return sendProblem(request, reply, 429, 'rate_limited', `${detail}; retry after ${d.retryAfterSeconds} s`);
}

async function authPlugin(app: FastifyInstance, opts: AuthPluginOptions): Promise<void> {
  app.decorateRequest('principal', null);
  const limiters = await registerLimiters(app, opts.limits);
  const keyDeps = { db: opts.db, now: opts.now, ...(opts.keyCache ? { cache: opts.keyCache } : {}) };

  const fail = async (request: FastifyRequest, reply: FastifyReply, reason: string, detail: string) => {
    const d = await limiters.authFailure(request);
    if (d.exceeded) return tooMany(request, reply, d, 'Too many failed authentication attempts from this address');
    request.auditDetail({ reason });
    reply.header('www-authenticate', 'Bearer realm="patientpulse"');
    return sendProblem(request, reply, 401, reason === 'key_in_query' ? 'key_in_query' : 'unauthorized', detail);
  };

  app.addHook('onRequest', async (request, reply) => {
    const permission = request.routeOptions.config.permission;
    if (!permission) {
      const d = await limiters.anonymous(request);
      if (d.exceeded) return tooMany(request, reply, d, 'Too many requests from this address');
      return;
    }
    if (keyInQuery(request.url)) {
      return fail(
        request,
        reply,
        'key_in_query',
        'API keys are not accepted in the URL; send them in the Authorization or X-API-Key header',
      );
    }
    const key = presentedKey(request);
    if (!key) return fail(request, reply, 'missing_key', 'A valid API key is required');
    const prefix = PREFIX_OF.exec(key)?.[1];
    // An address out of failures gets no more keys checked, or guessing would go on at full
    // speed with a 429 only relabelling wrong guesses. Keys verified here lately still are,
    // so clients behind the same NAT address as the guesser keep working.
    // Hashed once: the recently-verified check and the lookup both go by the hash.
    const hash = presentedKeyHash(key);
    if (!isRecentlyVerifiedKey(keyDeps, hash)) {
      const d = await limiters.authFailuresUsedUp(request);
      if (d.exceeded) {
        if (prefix) request.auditDetail({ presented_prefix: prefix });
        return tooMany(request, reply, d, 'Too many failed authentication attempts from this address');
      }
    }
    const principal = hash === undefined ? undefined : await authenticateKeyHash(keyDeps, hash);
    if (!principal) {
      if (prefix) request.auditDetail({ presented_prefix: prefix });
      return fail(request, reply, 'invalid_key', 'The API key is not valid, expired or revoked');
    }
    request.principal = principal;
    const d = await limiters.key(request, principal.keyId);
    if (d.exceeded) return tooMany(request, reply, d, 'Too many requests for this API key');
    if (!roleHas(principal.role, permission)) {
      request.auditDetail({ reason: 'forbidden', permission });
      request.auditPatients(targetedPatients(request));
      return sendProblem(request, reply, 403, 'forbidden', 'This API key is not allowed to do this');
    }
  });
}

export default fp(authPlugin, { name: 'auth', dependencies: ['problem', 'audit'] });
