/**
 * Graceful drain on close. `http.Server.close()` also closes idle keep-alive connections
 * at once, and a client that is sending its next request on one of them at that moment
 * sees a connection reset. Instead, on close this plugin:
 *
 * 1. stops accepting new connections (new clients get "connection refused", so a load
 *    balancer retries elsewhere);
 * 2. answers requests arriving on already open connections with 503 problem+json,
 *    `Retry-After` and `Connection: close`, and closes every connection after its current
 *    response;
 * 3. waits for in-flight requests to finish, up to `shutdownTimeoutMs`, then closes the
 *    connections still busy;
 * 4. gives keep-alive clients a short grace to notice before the remaining idle
 *    connections are closed.
 *
 * The health probes keep answering during the drain (/readyz says "draining").
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Readiness } from '../../modules/health/health.routes.js';
import { sendProblem } from './problem.js';

/** A request whose handler (or response hooks) had not finished when the wait ended. */
export interface UnfinishedRequest {
  reqId: string;
  method: string;
  route: string;
  runningMs: number;
}

/**
 * Requests whose handler and response hooks have not finished yet. Closing a connection
 * does not stop its handler: a request cut off by the drain still runs, and writes its
 * audit event in onSend afterwards. Shutdown waits on this, not on the connections,
 * before it closes the database.
 */
export class RequestTracker {
  private readonly running = new Map<FastifyRequest, number>();

  begin(request: FastifyRequest): void {
    this.running.set(request, Date.now());
  }

  /** Idempotent: called from the last onSend hook and from onResponse. */
  end(request: FastifyRequest): void {
    this.running.delete(request);
  }

  get size(): number {
    return this.running.size;
  }

  /** Waits up to `ms` for every tracked request to finish; resolves with those still running. */
  async settle(ms: number): Promise<UnfinishedRequest[]> {
    const deadline = Date.now() + ms;
    while (this.running.size > 0 && Date.now() < deadline) await sleep(POLL_MS);
    const now = Date.now();
    return [...this.running].map(([r, started]) => ({
      reqId: String(r.id),
      method: r.method,
      route: r.routeOptions.url ?? 'unmatched',
      runningMs: now - started,
    }));
  }
}

export interface DrainPluginOptions {
  /** Shared with the server process; `draining` is set when shutdown begins. */
  readiness: Readiness;
  /** Shared with the server process, which waits on it before closing the database. */
  tracker: RequestTracker;
  /** Upper bound for in-flight requests to finish. */
  shutdownTimeoutMs: number;
  /** How long idle keep-alive connections get to send one more request (and get a 503). */
  idleGraceMs?: number;
}

const PROBES = new Set(['/healthz', '/readyz']);
const POLL_MS = 20;

async function drainPlugin(app: FastifyInstance, opts: DrainPluginOptions): Promise<void> {
  const { readiness } = opts;
  let inFlight = 0;

  const requestDone = () => {
    inFlight--;
  };
  // Callback-style hooks: they run on every request, and need no promise.
  app.addHook('onRequest', (request, reply, done) => {
    inFlight++;
    opts.tracker.begin(request);
    reply.raw.on('close', requestDone);
    if (readiness.draining && !PROBES.has(request.routeOptions.url ?? '')) {
      reply.header('retry-after', '5');
      sendProblem(request, reply, 503, 'shutting_down', 'This instance is shutting down; retry shortly');
      return;
    }
    done();
  });

  app.addHook('onSend', (_request, reply, payload, done) => {
    if (readiness.draining) reply.header('connection', 'close');
    done(null, payload);
  });
  // Normally the last onSend hook (added by buildApp after every plugin) ends the request;
  // this covers responses whose onSend chain failed.
  app.addHook('onResponse', (request, _reply, done) => {
    opts.tracker.end(request);
    done();
  });

  app.addHook('preClose', async () => {
    readiness.draining = true;
    const server = app.server;
    if (!server.listening) return;
    // net.Server's close stops listening without touching open connections (the http
    // override would also close idle keep-alive ones, racing with clients reusing them).
    net.Server.prototype.close.call(server);
    app.log.info({ inFlight }, 'stopped accepting connections');
    const deadline = Date.now() + opts.shutdownTimeoutMs;
    const requestsDone = async () => {
      while (inFlight > 0 && Date.now() < deadline) await sleep(POLL_MS);
      return inFlight === 0;
    };
    if (await requestsDone()) {
      const graceEnd = Math.min(deadline, Date.now() + (opts.idleGraceMs ?? 1000));
      while (Date.now() < graceEnd && (await openConnections(server)) > 0) await sleep(POLL_MS);
      server.closeIdleConnections();
    }
    if (!(await requestsDone())) {
      app.log.warn({ inFlight }, 'shutdown timeout reached; closing connections with requests still running');
    }
    server.closeAllConnections();
  });
}

function openConnections(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.getConnections((err, n) => resolve(err ? 0 : n)));
}

export default fp(drainPlugin, { name: 'drain', dependencies: ['problem'] });
