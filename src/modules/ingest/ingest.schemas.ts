/** Request and response schemas of POST /api/v1/biometrics/bulk. */
import { Type } from 'typebox';
import { errorResponses, OneOf, ProblemSchema } from '../../http/common.schemas.js';
import { REFERENCE_HEADER } from './ingest.csv.js';

const Status = OneOf(['inserted', 'updated', 'unchanged', 'duplicate', 'rejected'], {
  description: 'duplicate: repeats an earlier item of the request with the same value',
});

export const BulkResultItem = Type.Object({
  index: Type.Optional(Type.Integer({ description: 'Position of the item in the JSON array (0-based)' })),
  line: Type.Optional(Type.Integer({ description: 'CSV line (the header is line 1)' })),
  column: Type.Optional(Type.String({ description: 'CSV column of the reading or of the fault' })),
  status: Status,
  reason: Type.Optional(Type.String({ description: 'Why it was rejected (stable code)' })),
  message: Type.Optional(Type.String()),
});

export const BulkSummarySchema = Type.Object({
  received: Type.Integer({ description: 'Items (JSON) or data rows (CSV) received' }),
  inserted: Type.Integer(),
  updated: Type.Integer(),
  unchanged: Type.Integer(),
  duplicate: Type.Integer(),
  rejected: Type.Integer(),
});

export const BulkResponse = Type.Object({ summary: BulkSummarySchema, results: Type.Array(BulkResultItem) });

/** The route schema; the item cap comes from configuration. */
export function bulkSchema(maxItems: number) {
  return {
    tags: ['biometrics'],
    summary: 'Upsert many readings at once (JSON array or CSV)',
    description:
      `A JSON array of readings (each like POST /biometrics), or \`text/csv\` with the header \`${REFERENCE_HEADER}\` ` +
      '(any order or subset; unit variants such as glucose_mmol_L or weight_lb are converted). ' +
      'Each item is validated on its own: a bad item is rejected with a reason and the others are stored. ' +
      `At most ${maxItems} items (or CSV rows) per request.`,
    body: {
      content: {
        // Items are validated one by one (see ingest.items.ts), so one bad item does not fail the rest.
        'application/json': {
          schema: Type.Array(
            Type.Unknown({
              description: 'A reading: {patient_id, timestamp, type, value, unit?} as for POST /biometrics',
            }),
            { maxItems },
          ),
        },
        'text/csv': { schema: Type.String() },
      },
    },
    response: { 200: BulkResponse, 413: ProblemSchema, 415: ProblemSchema, ...errorResponses },
  };
}
