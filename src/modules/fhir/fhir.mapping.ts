/**
 * Pure mappings between PatientPulse records and HL7 FHIR R4 (4.0.1) resources: patients,
 * readings (one Observation each), search parameters and problem details. No I/O, so the
 * service and the HTTP hooks share them and the tests can call them directly.
 */
import type { ReadingType } from '../../domain/readings.js';
import { isValidDate, parseTimestamp } from '../../domain/timestamps.js';
import type { ReadingRow } from '../biometrics/biometrics.repository.js';
import type { PatientListRow } from '../patients/patients.repository.js';

export const FHIR_VERSION = '4.0.1';
export const FHIR_CONTENT_TYPE = 'application/fhir+json; charset=utf-8';
export const LOINC = 'http://loinc.org';
export const UCUM = 'http://unitsofmeasure.org';
export const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
/** Systems accepted for the email identifier: FHIR's `mailto:` convention and our own URI. */
export const EMAIL_SYSTEMS = ['mailto:', 'https://patientpulse.dev/fhir/identifier/email'] as const;

/**
 * LOINC code, display, category and UCUM unit per stored reading type (sources in
 * docs/DESIGN.md, "FHIR facade"). Stored units are canonical (see domain/readings.ts),
 * so one UCUM code per type is exact.
 */
export const READING_CODES: Record<
  ReadingType,
  { code: string; display: string; category: 'vital-signs' | 'laboratory'; ucum: string }
> = {
  glucose: { code: '2339-0', display: 'Glucose [Mass/volume] in Blood', category: 'laboratory', ucum: 'mg/dL' },
  systolic: { code: '8480-6', display: 'Systolic blood pressure', category: 'vital-signs', ucum: 'mm[Hg]' },
  diastolic: { code: '8462-4', display: 'Diastolic blood pressure', category: 'vital-signs', ucum: 'mm[Hg]' },
  weight: { code: '29463-7', display: 'Body weight', category: 'vital-signs', ucum: 'kg' },
};

const CATEGORY_DISPLAY = { 'vital-signs': 'Vital Signs', laboratory: 'Laboratory' } as const;

/** The reading type a LOINC code names, or undefined for codes we never store. */
export function readingTypeOfCode(code: string): ReadingType | undefined {
  for (const [type, c] of Object.entries(READING_CODES)) if (c.code === code) return type as ReadingType;
  return undefined;
}

/**
 * A `code` token (`system|code`, `|code` or `code`) as a reading type. `null` means a
 * well-formed token that matches nothing we store (another system or code): an empty
 * result, not an error, as FHIR servers answer.
 */
export function readingTypeOfToken(token: string): ReadingType | null {
  const bar = token.indexOf('|');
  if (bar === -1) return readingTypeOfCode(token) ?? null;
  const system = token.slice(0, bar);
  if (system !== '' && system !== LOINC) return null;
  return readingTypeOfCode(token.slice(bar + 1)) ?? null;
}

/** FHIR administrative gender; stored values are male, female or other. */
export function fhirGender(stored: string): 'male' | 'female' | 'other' | 'unknown' {
  return stored === 'male' || stored === 'female' || stored === 'other' ? stored : 'unknown';
}

/** Parses a logical id as a positive integer within `max`; anything else names no record. */
export function parseId(id: string, max: number): number | undefined {
  if (!/^[1-9][0-9]{0,15}$/.test(id)) return undefined;
  const n = Number(id);
  return n <= max ? n : undefined;
}

/** A Patient resource. The name stays `text` only: splitting free text into family and given names is guesswork. */
export function toFhirPatient(p: PatientListRow) {
  const telecom: { system: 'phone' | 'email'; value: string }[] = [];
  if (p.phone) telecom.push({ system: 'phone', value: p.phone });
  telecom.push({ system: 'email', value: p.email });
  return {
    resourceType: 'Patient' as const,
    id: String(p.id),
    identifier: [{ system: EMAIL_SYSTEMS[0], value: p.email }],
    name: [{ text: p.name }],
    telecom,
    gender: fhirGender(p.gender),
    birthDate: p.dob,
    ...(p.address ? { address: [{ text: p.address }] } : {}),
  };
}
export type FhirPatient = ReturnType<typeof toFhirPatient>;

/** One Observation per stored reading. */
export function toFhirObservation(r: ReadingRow) {
  const c = READING_CODES[r.type];
  return {
    resourceType: 'Observation' as const,
    id: String(r.id),
    status: 'final' as const,
    category: [{ coding: [{ system: OBSERVATION_CATEGORY, code: c.category, display: CATEGORY_DISPLAY[c.category] }] }],
    code: { coding: [{ system: LOINC, code: c.code, display: c.display }], text: c.display },
    subject: { reference: `Patient/${r.patientId}` },
    effectiveDateTime: r.timestamp.toISOString(),
    // `unit` is the stored (human) unit, `code` the UCUM one: they differ only for mmHg.
    valueQuantity: { value: r.value, unit: r.unit, system: UCUM, code: c.ucum },
  };
}
export type FhirObservation = ReturnType<typeof toFhirObservation>;

/** A half-open instant range [from, to), either end open. */
export interface Range {
  from?: Date;
  to?: Date;
}

const DATE_PARAM =
  /^(eq|ne|gt|lt|ge|le|sa|eb|ap)?(\d{4}-\d{2}-\d{2})(T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2}))?$/;
const DAY_MS = 86_400_000;

/**
 * Intersects the `date` search values into one range. A day (`2025-05-24`) covers that UTC
 * day; a date-time covers its second (or its millisecond when it has a fraction), as FHIR's
 * precision-based matching asks. Returns an error message for prefixes or forms we do not support.
 */
export function dateRange(values: readonly string[]): Range | { error: string } {
  let from: number | undefined;
  let to: number | undefined;
  for (const v of values) {
    const m = DATE_PARAM.exec(v);
    if (!m)
      return {
        error:
          'must be a date (YYYY-MM-DD) or a date-time with seconds and an offset, optionally prefixed by eq, gt, ge, lt or le',
      };
    const prefix = m[1] ?? 'eq';
    if (!['eq', 'gt', 'ge', 'lt', 'le'].includes(prefix)) return { error: `the prefix ${prefix} is not supported` };
    const day = m[2] as string;
    const start = m[3]
      ? parseTimestamp(`${day}${m[3]}`)
      : isValidDate(day)
        ? Date.parse(`${day}T00:00:00Z`)
        : undefined;
    if (start === undefined) return { error: 'is not a valid date' };
    const end = start + (m[3] === undefined ? DAY_MS : m[4] ? 1 : 1000);
    const lower = prefix === 'eq' || prefix === 'ge' ? start : prefix === 'gt' ? end : undefined;
    const upper = prefix === 'eq' || prefix === 'le' ? end : prefix === 'lt' ? start : undefined;
    if (lower !== undefined) from = from === undefined ? lower : Math.max(from, lower);
    if (upper !== undefined) to = to === undefined ? upper : Math.min(to, upper);
  }
  return { ...(from !== undefined ? { from: new Date(from) } : {}), ...(to !== undefined ? { to: new Date(to) } : {}) };
}

/** What the fhir hooks need of a problem body (see src/http/plugins/problem.ts). */
export interface ProblemLike {
  status: number;
  code: string;
  detail: string;
  request_id: string;
  errors?: { field: string; message: string }[];
}

/** FHIR issue-type code per HTTP status (http://hl7.org/fhir/issue-type). */
function issueCode(status: number, code: string): string {
  if (code === 'validation_failed' || status === 400 || status === 422) return 'invalid';
  if (status === 401) return 'login';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not-found';
  if (status === 405 || status === 406 || status === 415) return 'not-supported';
  if (status === 413 || status === 414) return 'too-costly';
  if (status === 429) return 'throttled';
  if (status === 503 && code === 'timeout') return 'timeout';
  if (status === 503) return 'transient';
  if (status >= 400 && status < 500) return 'processing';
  return 'exception';
}

/**
 * An OperationOutcome for a problem body: one issue per field error (with FHIRPath-ish
 * `expression` naming the parameter), else one issue with the detail. The request id
 * goes in `diagnostics`, which is where FHIR clients show support information. 5xx
 * details are already generic in the problem body, so nothing internal can appear here.
 */
export function toOperationOutcome(p: ProblemLike) {
  const code = issueCode(p.status, p.code);
  const diagnostics = `request_id=${p.request_id}; code=${p.code}`;
  const issues =
    p.errors && p.errors.length > 0
      ? p.errors.map((e) => ({
          severity: 'error' as const,
          code,
          details: { text: `${e.field} ${e.message}` },
          diagnostics,
          expression: [e.field],
        }))
      : [{ severity: 'error' as const, code, details: { text: p.detail }, diagnostics }];
  return { resourceType: 'OperationOutcome' as const, issue: issues };
}
