/**
 * REQUEST_TIMEOUT_MS for hooks and handlers: a request still unanswered after it gets a
 * 503 `timeout` problem (see the problem plugin) instead of hanging.
 *
 * Fastify's own `handlerTimeout` option does the same, but gives every request an
 * AbortController and a timer, and aborts the controller, with a DOMException and its
 * stack trace, when the request stream closes: about 7% of the CPU of a short API request.
 * Nothing here uses `request.signal`. Every request has the same timeout, so deadlines
 * come in arrival order: in-flight requests form a queue (a doubly linked list, O(1) to
 * leave) watched by a single timer armed for the oldest deadline. The rules stay
 * Fastify's: the clock starts before the first hook, stops with the response, and a
 * request whose stream has closed (for a request with a body, as soon as the body has
 * been read) is not timed out.
 */
import { errorCodes, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

interface Entry {
  request: FastifyRequest;
  reply: FastifyReply;
  deadline: number;
  prev: Entry | null;
  next: Entry | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** This request's place in the timeout queue while it is in flight. */
    timeoutEntry: unknown;
  }
}

function expire(e: Entry, timeoutMs: number): void {
  const { request, reply } = e;
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
  const { timeoutMs } = opts;
  let head: Entry | null = null;
  let tail: Entry | null = null;
  let timer: NodeJS.Timeout | null = null;

  const unlink = (e: Entry) => {
    if (e.prev) e.prev.next = e.next;
    else head = e.next;
    if (e.next) e.next.prev = e.prev;
    else tail = e.prev;
    e.prev = null;
    e.next = null;
  };

  const arm = (now: number) => {
    if (timer || !head) return;
    timer = setTimeout(sweep, Math.max(0, head.deadline - now));
    // In-flight requests keep the process alive by themselves (sockets, handlers).
    timer.unref();
  };

  function sweep(): void {
    timer = null;
    const now = Date.now();
    while (head && head.deadline <= now) {
      const e: Entry = head;
      unlink(e);
      e.request.timeoutEntry = null;
      expire(e, timeoutMs);
    }
    arm(now);
  }

  app.decorateRequest('timeoutEntry', null);
  app.addHook('onRequest', (request, reply, done) => {
    const now = Date.now();
    const e: Entry = { request, reply, deadline: now + timeoutMs, prev: tail, next: null };
    if (tail) tail.next = e;
    else head = e;
    tail = e;
    request.timeoutEntry = e;
    arm(now);
    done();
  });
  app.addHook('onResponse', (request, _reply, done) => {
    const e = request.timeoutEntry as Entry | null;
    if (e) {
      unlink(e);
      request.timeoutEntry = null;
    }
    done();
  });
  app.addHook('onClose', (_app, done) => {
    if (timer) clearTimeout(timer);
    timer = null;
    done();
  });
}

export default fp(handlerTimeoutPlugin, { name: 'handler-timeout' });
