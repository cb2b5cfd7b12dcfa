/**
 * Patients file: a JSON array of {name, dob, gender, email, address?, phone?}. Records are
 * validated with the API's own create-patient schema and normalisation (gender and email
 * lower case), so a record the API would refuse is refused here too.
 */
import { Type } from 'typebox';
import { ValidationError } from '../../domain/errors.js';
import { buildValidatorCompiler } from '../../http/validation.js';
import { CreatePatientBody } from '../patients/patients.schemas.js';
import { normalizePatientFields } from '../patients/patients.service.js';
import type { RejectReason } from './ingest.report.js';
import type { PatientUpsert } from './ingest.repository.js';

/** The patients file is not a JSON array; nothing in it is loaded. */
export class PatientsFileError extends Error {
  constructor(message: string) {
    super(`patients file: ${message}`);
    this.name = 'PatientsFileError';
  }
}

/** One element of the top-level array with the line it starts on. */
export interface JsonElement {
  line: number;
  text: string;
}

function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\n' || c === '\r' || c === '\t';
}

/**
 * Splits a JSON array into its element texts, keeping line numbers so rejects can point
 * at them. Only the structure is checked here; each element is parsed on its own, so one
 * malformed record does not lose the others.
 */
export function splitJsonArray(text: string): JsonElement[] {
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  const skipSpace = () => {
    while (i < text.length && isSpace(text[i])) {
      if (text[i] === '\n') line++;
      i++;
    }
  };
  skipSpace();
  if (text[i] !== '[') throw new PatientsFileError('expected a JSON array of patient records');
  i++;
  const out: JsonElement[] = [];
  for (;;) {
    skipSpace();
    if (text[i] === ']' && out.length === 0) {
      i++;
      break;
    }
    const startLine = line;
    const start = i;
    let depth = 0;
    let inString = false;
    for (; i < text.length; i++) {
      const c = text[i];
      if (inString) {
        if (c === '\\') i++;
        else if (c === '"') inString = false;
        else if (c === '\n') line++;
        continue;
      }
      if (c === '"') inString = true;
      else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        if (depth === 0) break;
        depth--;
      } else if (c === ',' && depth === 0) break;
      else if (c === '\n') line++;
    }
    if (i >= text.length) throw new PatientsFileError('the JSON array is not closed');
    const elementText = text.slice(start, i).trim();
    if (elementText === '') throw new PatientsFileError(`empty array element on line ${startLine}`);
    out.push({ line: startLine, text: elementText });
    if (text[i] === ']') {
      i++;
      break;
    }
    i++; // the comma
  }
  skipSpace();
  if (i < text.length) throw new PatientsFileError(`unexpected content after the array on line ${line}`);
  return out;
}

const KNOWN = Object.keys(CreatePatientBody.properties);
// The API's schema, minus its refusal of unknown properties (exports often carry an id).
const FileRecord = Type.Object(CreatePatientBody.properties);
let validateRecord: ((v: unknown) => boolean) & { errors?: unknown[] | null };

function validator() {
  validateRecord ??= buildValidatorCompiler()({
    schema: FileRecord,
    method: 'POST',
    url: 'patients-file',
    httpPart: 'body',
  }) as typeof validateRecord;
  return validateRecord;
}

const FORMAT_MESSAGES: Record<string, string> = {
  'calendar-date': 'must be a real calendar date in the form YYYY-MM-DD',
  email: 'must be a valid email address',
};

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** A valid, normalised patient record; absent optional fields stay absent. */
export interface PatientRecord {
  line: number;
  text: string;
  name: string;
  dob: string;
  gender: string;
  email: string;
  address?: string | null;
  phone?: string | null;
  /** Properties the record carries that are not patient fields. */
  ignored: string[];
}

export interface PatientReject {
  line: number;
  text: string;
  reason: RejectReason;
  column: string;
  detail: string;
}

/** Parses and validates one array element. */
export function parsePatientRecord(el: JsonElement, now: Date): PatientRecord | PatientReject {
  let value: unknown;
  try {
    value = JSON.parse(el.text);
  } catch {
    return { line: el.line, text: el.text, reason: 'malformed_json', column: '', detail: 'record is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { line: el.line, text: el.text, reason: 'invalid_record', column: '', detail: 'record is not an object' };
  }
  // Exports often pad values; surrounding spaces are not worth refusing a record for.
  const rec = Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, typeof v === 'string' && KNOWN.includes(k) ? v.trim() : v]),
  );
  const validate = validator();
  if (!validate(rec)) {
    const e = ((validate.errors ?? []) as AjvError[])[0];
    const field =
      e?.keyword === 'required' ? String(e.params.missingProperty) : (e?.instancePath.replace(/^\//, '') ?? '');
    const message =
      e?.keyword === 'required'
        ? 'is required'
        : e?.keyword === 'format'
          ? (FORMAT_MESSAGES[String(e.params.format)] ?? e.message)
          : (e?.message ?? 'is not valid');
    return { line: el.line, text: el.text, reason: 'invalid_record', column: field, detail: `${field} ${message}` };
  }
  let p: Record<string, unknown>;
  try {
    p = normalizePatientFields(rec as Parameters<typeof normalizePatientFields>[0], now);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    const field = (err.errors?.[0]?.field ?? '').replace(/^body\./, '');
    return {
      line: el.line,
      text: el.text,
      reason: 'invalid_record',
      column: field,
      detail: `${field} ${err.errors?.[0]?.message ?? 'is not valid'}`,
    };
  }
  const out: PatientRecord = {
    line: el.line,
    text: el.text,
    name: String(p.name),
    dob: String(p.dob),
    gender: String(p.gender),
    email: String(p.email),
    ignored: Object.keys(rec).filter((k) => !KNOWN.includes(k)),
  };
  if ('address' in rec) out.address = (p.address as string | null) ?? null;
  if ('phone' in rec) out.phone = (p.phone as string | null) ?? null;
  return out;
}

/** True when two records of the same email carry the same data. */
export function sameRecord(a: PatientRecord, b: PatientRecord): boolean {
  return (
    a.name === b.name &&
    a.dob === b.dob &&
    a.gender === b.gender &&
    (a.address ?? null) === (b.address ?? null) &&
    (a.phone ?? null) === (b.phone ?? null)
  );
}

/**
 * The row to store for `rec` given the stored patient (if any): absent optional fields
 * keep their stored values. Returns undefined when nothing would change.
 */
export function mergePatient(
  rec: PatientRecord,
  stored: Omit<PatientUpsert, 'email'> | undefined,
): PatientUpsert | undefined {
  const next: PatientUpsert = {
    name: rec.name,
    dob: rec.dob,
    gender: rec.gender,
    email: rec.email,
    address: rec.address !== undefined ? rec.address : (stored?.address ?? null),
    phone: rec.phone !== undefined ? rec.phone : (stored?.phone ?? null),
  };
  if (
    stored &&
    stored.name === next.name &&
    stored.dob === next.dob &&
    stored.gender === next.gender &&
    stored.address === next.address &&
    stored.phone === next.phone
  ) {
    return undefined;
  }
  return next;
}
