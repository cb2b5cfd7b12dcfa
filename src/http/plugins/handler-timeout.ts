/**
 * REQUEST_TIMEOUT_MS for hooks and handlers: a request still unanswered after it gets a
 * 503 `timeout` problem (see the problem plugin) instead of hanging.
 *
 * Fastify's own `handlerTimeout` option does the same, but also gives every request an
 * AbortController that it aborts, with a DOMException and its stack trace, when the
 * request stream closes: about 7% of the CPU of a short API request. Nothing here uses
 * `request.signal`, so a plain timer does. It keeps Fastify's rules: the timer starts
 * before the first hook, ends with the response, and is void once the request stream has
 * closed (for a request with a body, as soon as the body has been read).
 */
import { errorCodes, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyRequest {
    /** The pending REQUEST_TIMEOUT_MS timer. */
    handlerTimer: NodeJS.Timeout | null;
  }
}

function onTimeout(request: FastifyRequest, reply: FastifyReply, timeoutMs: number): void {
  if (reply.sent || request.raw.destroyed) return;
  const err = new errorCodes.FST_ERR_HANDLER_TIMEOUT(timeoutMs, request.routeOptions.url);
  // A response already on its way (a stream) cannot become a problem document any more.
  if (reply.raw.headersSent) {
    reply.raw.destroy(err);
    return;
  }
  reply.send(err);
}

async function handlerTimeoutPlugin(app: FastifyInstance, opts: { timeoutMs: number }): Promise<void> {
  app.decorateRequest('handlerTimer', null);
  app.addHook('onRequest', (request, reply, done) => {
    request.handlerTimer = setTimeout(onTimeout, opts.timeoutMs, request, reply, opts.timeoutMs);
    done();
  });
  app.addHook('onResponse', (request, _reply, done) => {
    if (request.handlerTimer) clearTimeout(request.handlerTimer);
    request.handlerTimer = null;
    done();
  });
}

export default fp(handlerTimeoutPlugin, { name: 'handler-timeout' });
