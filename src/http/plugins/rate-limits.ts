/**
 * Abuse limits, built on @fastify/rate-limit's stores (fixed one-minute windows, in
 * memory, per instance):
 * - per API key, for authenticated requests;
 * - per client address, for requests without a valid key (public endpoints);
 * - per client address, counting only failed authentications, much lower.
 * The failure limit is also read without counting, before a key is looked up, so an
 * address that has used up its failures gets no more guesses checked.
 */
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';

export interface LimitSettings {
  perKeyPerMinute: number;
  perIpPerMinute: number;
  authFailuresPerIpPerMinute: number;
}

export interface LimitDecision {
  exceeded: boolean;
  retryAfterSeconds: number;
  /** True for the first refusal of this client in this window (that one is audited). */
  firstRefusal: boolean;
}

export interface Limiters {
  /** Counts a request that carries no valid key, by client address. */
  anonymous(request: FastifyRequest): Promise<LimitDecision>;
  /** Counts an authenticated request against its key. */
  key(request: FastifyRequest, keyId: number): Promise<LimitDecision>;
  /** Counts a failed authentication against the client address. */
  authFailure(request: FastifyRequest): Promise<LimitDecision>;
  /**
   * Whether the client address has no failed authentications left in this window: one
   * more would exceed the limit. Reads the counter without changing it.
   */
  authFailuresUsedUp(request: FastifyRequest): Promise<LimitDecision>;
}

const WINDOW_MS = 60_000;
const MAX_TRACKED = 10_000;

/** Registers the rate-limit plugin (no global hook) and returns the three limiters. */
export async function registerLimiters(app: FastifyInstance, s: LimitSettings): Promise<Limiters> {
  await app.register(rateLimit, { global: false, cache: MAX_TRACKED });
  const byKey = new WeakMap<FastifyRequest, number>();
  // Window end per limited client, to tell the first refusal from the repeats.
  const refused = new Map<string, number>();
  const make = (name: string, max: number, keyOf: (req: FastifyRequest) => string) => {
    const limiter = app.createRateLimit({ max, timeWindow: WINDOW_MS, keyGenerator: keyOf });
    const decide = async (req: FastifyRequest, increment: boolean): Promise<LimitDecision> => {
      // `increment: false` reads the store (LocalStore.read) without counting.
      const r = await limiter(req, { increment });
      // Counting: refused once over the limit. Reading: refused once the next would be.
      const refuse = !r.isAllowed && (increment ? r.isExceeded : r.remaining === 0);
      if (!refuse) return { exceeded: false, retryAfterSeconds: 0, firstRefusal: false };
      const id = `${name}:${r.key}`;
      const now = Date.now();
      const until = refused.get(id);
      const firstRefusal = until === undefined || until <= now;
      if (firstRefusal) {
        if (refused.size >= MAX_TRACKED) refused.clear();
        refused.set(id, now + r.ttl);
      }
      return { exceeded: true, retryAfterSeconds: Math.max(1, r.ttlInSeconds), firstRefusal };
    };
    return {
      count: (req: FastifyRequest) => decide(req, true),
      peek: (req: FastifyRequest) => decide(req, false),
    };
  };
  // IPv6 clients are grouped by /64, since one host usually owns a whole /64.
  const address = (req: FastifyRequest) => normalizeIP(req.ip, 64);
  const anonymous = make('ip', s.perIpPerMinute, (req) => `ip:${address(req)}`);
  const failures = make('auth', s.authFailuresPerIpPerMinute, (req) => `fail:${address(req)}`);
  const perKey = make('key', s.perKeyPerMinute, (req) => `key:${byKey.get(req) ?? 0}`);
  return {
    anonymous: anonymous.count,
    authFailure: failures.count,
    authFailuresUsedUp: failures.peek,
    key(req, keyId) {
      byKey.set(req, keyId);
      return perKey.count(req);
    },
  };
}
