/**
 * POST /api/v1/biometrics/bulk: many readings in one request, as a JSON array or as CSV
 * in the reference format, with one result per item. The text/csv parser is registered
 * in this plugin only.
 */
import type { FastifyInstance } from 'fastify';
import { AppError, ValidationError } from '../../domain/errors.js';
import { latestAcceptedMs } from '../../domain/timestamps.js';
import { principalOf, type RoutePluginOptions } from '../../http/types.js';
import { HeaderError } from './ingest.csv.js';
import { checkBulkItem } from './ingest.items.js';
import { bulkSchema } from './ingest.schemas.js';
import { type BulkResult, ingestCsvText, ingestItems, TooManyItemsError } from './ingest.service.js';

function isCsvParseError(err: unknown): err is Error & { code: string } {
  const code = (err as { code?: unknown })?.code;
  return err instanceof Error && typeof code === 'string' && code.startsWith('CSV_');
}

export async function bulkRoutes(app: FastifyInstance, { deps }: RoutePluginOptions): Promise<void> {
  const { bulkBodyLimitBytes, bulkMaxItems } = deps.config;
  app.addContentTypeParser('text/csv', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  const svc = { database: deps.database, metrics: deps.metrics, now: deps.now };

  app.post(
    '/biometrics/bulk',
    { schema: bulkSchema(bulkMaxItems), bodyLimit: bulkBodyLimitBytes, config: { permission: 'readings:write' } },
    async (req) => {
      const scope = principalOf(req).patientIds;
      const mediaType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
      if (mediaType !== 'text/csv' && mediaType !== 'application/json') {
        throw new AppError('unsupported_media_type', 415, 'Send the readings as application/json or text/csv');
      }
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
    },
  );
}
