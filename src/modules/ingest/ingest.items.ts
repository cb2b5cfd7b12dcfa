/**
 * Items of the JSON bulk body, checked one by one so that a bad item is rejected alone
 * (with the same rules as POST /api/v1/biometrics) instead of failing the request.
 */
import { type Static, Type } from 'typebox';
import { isValueProblem, normalizeValue } from '../../domain/readings.js';
import { parseTimestamp, TOO_FAR_AHEAD } from '../../domain/timestamps.js';
import { buildValidatorCompiler } from '../../http/validation.js';
import { ReadingTypeSchema } from '../biometrics/biometrics.schemas.js';
import type { BulkItemCheck } from './ingest.service.js';

export const BulkItemSchema = Type.Object(
  {
    patient_id: Type.Integer({ minimum: 1, maximum: 2147483647 }),
    timestamp: Type.String({ maxLength: 40, description: 'ISO 8601; no offset means UTC' }),
    type: ReadingTypeSchema,
    value: Type.Number({ description: 'In `unit`, or the canonical unit of the type when omitted' }),
    unit: Type.Optional(Type.String({ minLength: 1, maxLength: 16, description: 'mg/dL, mmol/L, mmHg, kg or lb' })),
  },
  { additionalProperties: false },
);
export type BulkItem = Static<typeof BulkItemSchema>;

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

let validateItem: ((v: unknown) => boolean) & { errors?: unknown[] | null };

function validator() {
  validateItem ??= buildValidatorCompiler()({
    schema: BulkItemSchema,
    method: 'POST',
    url: '/api/v1/biometrics/bulk',
    httpPart: 'body',
  }) as typeof validateItem;
  return validateItem;
}

/**
 * Validates one item and converts its value to the canonical unit. `latestMs` is the
 * latest timestamp accepted (see latestAcceptedMs): a device clock far ahead is rejected.
 */
export function checkBulkItem(item: unknown, index: number, latestMs: number): BulkItemCheck {
  const validate = validator();
  const at = `body.${index}`;
  if (!validate(item)) {
    const e = ((validate.errors ?? []) as AjvError[])[0];
    let path = e?.instancePath.replace(/^\//, '').replaceAll('/', '.') ?? '';
    let message = e?.message ?? 'is not valid';
    if (e?.keyword === 'additionalProperties') {
      path = String(e.params.additionalProperty);
      message = 'is not an allowed property';
    } else if (e?.keyword === 'required') {
      path = String(e.params.missingProperty);
      message = 'is required';
    }
    return { ok: false, reason: 'invalid_item', field: path ? `${at}.${path}` : at, message };
  }
  const it = item as BulkItem;
  const tsMs = parseTimestamp(it.timestamp);
  if (tsMs === undefined) {
    return {
      ok: false,
      reason: 'bad_timestamp',
      field: `${at}.timestamp`,
      message: 'must be an ISO 8601 date-time between 1900 and 2199 (no offset means UTC)',
    };
  }
  if (tsMs > latestMs) {
    return { ok: false, reason: 'bad_timestamp', field: `${at}.timestamp`, message: TOO_FAR_AHEAD };
  }
  const v = normalizeValue(it.type, it.value, it.unit);
  if (isValueProblem(v)) {
    return v.reason === 'unknown_unit'
      ? { ok: false, reason: 'unknown_unit', field: `${at}.unit`, message: v.message }
      : { ok: false, reason: 'impossible_value', field: `${at}.value`, message: v.message };
  }
  return { ok: true, patientId: it.patient_id, type: it.type, value: v.value, unit: v.unit, tsMs };
}
