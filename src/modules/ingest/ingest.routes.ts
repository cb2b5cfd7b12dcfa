/**
 * POST /api/v1/biometrics/bulk: many readings in one request, as a JSON array or as CSV
 * in the reference format, with one result per item. The text/csv parser is registered
 * in this plugin only. At most BULK_CONCURRENCY requests are processed at once; the
 * others wait for their turn in arrival order.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ValidationError } from '../../domain/errors.js';
import { latestAcceptedMs } from '../../domain/timestamps.js';
import { principalOf, type RoutePluginOptions } from '../../http/types.js';
import type { Principal } from '../keys/keys.roles.js';
import { HeaderError } from './ingest.csv.js';
import { checkBulkItem } from './ingest.items.js';
import { createLimiter, type Limiter, LimiterClosedError, type Release } from './ingest.limiter.js';
import { bulkSchema } from './ingest.schemas.js';
import { type BulkResult, ingestCsvText, ingestItems, TooManyItemsError } from './ingest.service.js';

function isCsvParseError(err: unknown): err is Error & { code: string } {
  const code = (err as { code?: unknown })?.code;
  return err instanceof Error && typeof code === 'string' && code.startsWith('CSV_');
}

/** Options of {@link bulkRoutes}. */
export interface BulkRouteOptions extends RoutePluginOptions {
  /** Turns for bulk requests; made from `BULK_CONCURRENCY` when absent (tests pass one to watch it). */
  limiter?: Limiter;
}

/**
 * Waits for a turn. Resolves with null when the response ended while waiting (the client
 * went away, the request timed out, or the connection was closed at shutdown): such a
 * request must not write anything, since nobody will be told what it did.
 */
async function waitForTurn(limiter: Limiter, reply: FastifyReply): Promise<Release | null> {
  if (reply.sent || reply.raw.destroyed) return null;
  const gone = new AbortController();
  const onClose = () => gone.abort();
  reply.raw.once('close', onClose);
  try {
    return await limiter.acquire(gone.signal);
  } catch (err) {
    if (gone.signal.aborted) return null;
    if (err instanceof LimiterClosedError) {
      reply.header('retry-after', '5');
      throw new AppError('shutting_down', 503, 'This instance is shutting down; retry shortly');
    }
    throw err;
  } finally {
    reply.raw.off('close', onClose);
  }
}

/** Registers POST /biometrics/bulk. */
export async function bulkRoutes(app: FastifyInstance, { deps, limiter: given }: BulkRouteOptions): Promise<void> {
  const { bulkBodyLimitBytes, bulkMaxItems } = deps.config;
  app.addContentTypeParser('text/csv', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  const svc = { database: deps.database, metrics: deps.metrics, now: deps.now };
  const limiter = given ?? createLimiter(deps.config.bulkConcurrency);
  // Requests still waiting when the server closes must not start on a closing database.
  app.addHook('onClose', async () => limiter.close());

  const processBulk = async (
    req: FastifyRequest,
    scope: Principal['patientIds'],
    mediaType: 'text/csv' | 'application/json',
  ) => {
    let result: BulkResult;
    if (mediaType === 'text/csv') {
      try {
        result = await ingestCsvText(svc, scope, String(req.body), bulkMaxItems);
      } catch (err) {
        if (err instanceof HeaderError) {
          throw new ValidationError(err.problems.map((message) => ({ field: 'body', message })));
        }
        if (err instanceof TooManyItemsError) throw new ValidationError([{ field: 'body', message: err.message }]);
        if (isCsvParseError(err)) throw new ValidationError([{ field: 'body', message: err.message }]);
        throw err;
      }
    } else {
      // The route schema has already checked that the JSON body is an array.
      const items = req.body as unknown[];
      const latestMs = latestAcceptedMs(deps.now().getTime());
      result = await ingestItems(
        svc,
        scope,
        items.map((item, index) => checkBulkItem(item, index, latestMs)),
      );
    }
    req.auditPatients(result.patientIds);
    req.auditDetail({ bulk: result.summary });
    return { summary: result.summary, results: result.results };
  };

  app.post(
    '/biometrics/bulk',
    { schema: bulkSchema(bulkMaxItems), bodyLimit: bulkBodyLimitBytes, config: { permission: 'readings:write' } },
    async (req, reply) => {
      const scope = principalOf(req).patientIds;
      const mediaType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
      if (mediaType !== 'text/csv' && mediaType !== 'application/json') {
        throw new AppError('unsupported_media_type', 415, 'Send the readings as application/json or text/csv');
      }
      const release = await waitForTurn(limiter, reply);
      if (!release) return reply;
      try {
        return await processBulk(req, scope, mediaType);
      } finally {
        release();
      }
    },
  );
}
