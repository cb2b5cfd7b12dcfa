/**
 * Readings CSV: the header decides the mapping, and each data row is validated with the
 * same domain rules as the API (src/domain). Pure functions, no I/O.
 *
 * Reference header: patient_email,timestamp,glucose_mg_dL,bp_systolic,bp_diastolic,weight_kg
 * Columns may come in any order, value columns may be missing, and a unit suffix selects
 * the unit of a value column (glucose_mmol_L, weight_lb, ...).
 */
import { fullFormats } from 'ajv-formats/dist/formats.js';
import { bpPlausible } from '../../domain/clinical.js';
import {
  isReadingType,
  isValueProblem,
  normalizeValue,
  READING_TYPES,
  type ReadingType,
  TYPE_SPECS,
} from '../../domain/readings.js';
import { MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, parseTimestamp, TOO_FAR_AHEAD } from '../../domain/timestamps.js';
import type { RejectReason } from './ingest.report.js';

/** The reference header, as the sample file and the reference service write it. */
export const REFERENCE_HEADER = 'patient_email,timestamp,glucose_mg_dL,bp_systolic,bp_diastolic,weight_kg';

/** The API's email rule (ajv-formats "email", full mode), so files and API agree. */
const EMAIL_RE = fullFormats.email as RegExp;

const EMAIL_NAMES = new Set(['patient_email', 'email']);
const TIMESTAMP_NAMES = new Set(['timestamp', 'datetime', 'time']);
const VALUE_RE = /^(?:(bp|blood_pressure)_)?(glucose|systolic|diastolic|weight)(?:_([a-z0-9_]+))?$/;
const NUMBER_RE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A value column: which reading type it holds and in which unit. */
export interface ValueColumn {
  /** Position in the row. */
  index: number;
  /** Header text as written in the file (for reports). */
  name: string;
  type: ReadingType;
  /** Unit key of TYPE_SPECS (lower case), e.g. `mmol/l`; undefined = canonical. */
  unit: string | undefined;
}

/** How a file's columns map to fields. */
export interface ColumnMap {
  /** Number of columns every row must have. */
  width: number;
  email: { index: number; name: string };
  timestamp: { index: number; name: string };
  values: ValueColumn[];
}

/** The header cannot be used; nothing in the file is loaded. */
export class HeaderError extends Error {
  constructor(readonly problems: string[]) {
    super(`unusable CSV header: ${problems.join('; ')}`);
    this.name = 'HeaderError';
  }
}

/** Lower case, separators collapsed to `_`: `Glucose (mg/dL)` -> `glucose_mg_dl`. */
export function normalizeHeaderName(name: string): string {
  return name
    .replace(/^\ufeff/, '')
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

/** Unit key of `type` written as a header suffix (`mg_dl`, `mgdl`, `lbs`), or null. */
function unitFromSuffix(type: ReadingType, suffix: string): string | null {
  const compact = suffix.replaceAll('_', '');
  for (const unit of Object.keys(TYPE_SPECS[type].units)) {
    if (unit.replace(/[^a-z0-9]/g, '') === compact) return unit;
  }
  return null;
}

/** Describes the accepted header names, for error messages and docs. */
export function acceptedColumns(): string {
  const values = READING_TYPES.map((t) => {
    const units = Object.keys(TYPE_SPECS[t].units).map((u) => u.replace('/', '_'));
    const prefix = t === 'systolic' || t === 'diastolic' ? '[bp_]' : '';
    return `${prefix}${t}[_${units.join('|_')}]`;
  });
  return `patient_email (or email), timestamp, and any of ${values.join(', ')}`;
}

/**
 * Maps a header row. Throws {@link HeaderError} listing every problem: unknown or repeated
 * columns, two columns for one reading type, a missing email or timestamp column, or no
 * value column at all.
 */
export function mapHeader(header: readonly string[]): ColumnMap {
  const problems: string[] = [];
  let email: ColumnMap['email'] | undefined;
  let timestamp: ColumnMap['timestamp'] | undefined;
  const values: ValueColumn[] = [];
  header.forEach((raw, index) => {
    const name = raw.replace(/^\ufeff/, '').trim();
    const key = normalizeHeaderName(raw);
    if (EMAIL_NAMES.has(key)) {
      if (email) problems.push(`more than one patient email column ("${email.name}", "${name}")`);
      else email = { index, name };
      return;
    }
    if (TIMESTAMP_NAMES.has(key)) {
      if (timestamp) problems.push(`more than one timestamp column ("${timestamp.name}", "${name}")`);
      else timestamp = { index, name };
      return;
    }
    const m = VALUE_RE.exec(key);
    const type = m?.[2];
    if (m && type !== undefined && isReadingType(type) && !(m[1] && (type === 'glucose' || type === 'weight'))) {
      const unit = m[3] === undefined ? undefined : unitFromSuffix(type, m[3]);
      if (unit === null) {
        problems.push(
          `column "${name}": unit not accepted for ${type} (use ${Object.keys(TYPE_SPECS[type].units).join(', ')})`,
        );
        return;
      }
      const other = values.find((v) => v.type === type);
      if (other) problems.push(`columns "${other.name}" and "${name}" both hold ${type}`);
      else values.push({ index, name, type, unit });
      return;
    }
    problems.push(name === '' ? `column ${index + 1} has no name` : `unknown column "${name}"`);
  });
  if (!email) problems.push('no patient_email column');
  if (!timestamp) problems.push('no timestamp column');
  if (values.length === 0) problems.push('no reading column');
  if (problems.length > 0 || !email || !timestamp) {
    throw new HeaderError([...problems, `accepted columns: ${acceptedColumns()}`]);
  }
  return { width: header.length, email, timestamp, values };
}

/** Lower-cases and trims an email as stored. */
export function normalizeEmail(text: string): string {
  return text.trim().toLowerCase();
}

/** Same rule as the API's `email` format (and its 254 character limit). */
export function isValidEmail(email: string): boolean {
  return email.length > 0 && email.length <= 254 && EMAIL_RE.test(email);
}

/** Strict decimal number: no hex, no `Infinity`, no units, no thousands separators. */
export function parseNumber(text: string): number | undefined {
  const t = text.trim();
  return NUMBER_RE.test(t) ? Number(t) : undefined;
}

/** One cell of an accepted row: a reading or the reason it was rejected. */
export type CellResult =
  | { col: ValueColumn; ok: true; value: number; unit: string }
  | { col: ValueColumn; ok: false; reason: RejectReason; detail: string };

/** A data row whose patient email and timestamp are usable. */
export interface AcceptedRow {
  ok: true;
  line: number;
  email: string;
  tsMs: number;
  /** Non-empty value cells, in column order. */
  cells: CellResult[];
}

/** A row rejected whole. */
export interface RejectedRow {
  ok: false;
  line: number;
  reason: RejectReason;
  column: string;
  detail: string;
}

/**
 * Validates one data row: column count, email, timestamp (shifted by `shiftMs`, then no
 * later than `latestMs`, see latestAcceptedMs), then each non-empty value cell. Empty
 * cells mean "no reading". A systolic not above the diastolic of the same row rejects
 * both cells: the pair is implausible (most often swapped columns).
 */
export function parseRow(
  map: ColumnMap,
  fields: readonly string[],
  line: number,
  shiftMs = 0,
  latestMs = Number.POSITIVE_INFINITY,
): AcceptedRow | RejectedRow {
  if (fields.length !== map.width) {
    return {
      ok: false,
      line,
      reason: 'wrong_column_count',
      column: '',
      detail: `expected ${map.width} columns, found ${fields.length}`,
    };
  }
  const email = normalizeEmail(fields[map.email.index] ?? '');
  if (!isValidEmail(email)) {
    return {
      ok: false,
      line,
      reason: 'bad_email',
      column: map.email.name,
      detail: email === '' ? 'patient email is missing' : 'patient email is not a valid address',
    };
  }
  const tsText = (fields[map.timestamp.index] ?? '').trim();
  let tsMs = parseTimestamp(tsText);
  if (tsMs !== undefined && shiftMs !== 0) {
    tsMs += shiftMs;
    if (tsMs < MIN_TIMESTAMP_MS || tsMs >= MAX_TIMESTAMP_MS) tsMs = undefined;
  }
  if (tsMs === undefined) {
    return {
      ok: false,
      line,
      reason: 'bad_timestamp',
      column: map.timestamp.name,
      detail:
        tsText === ''
          ? 'timestamp is missing'
          : 'timestamp is not a valid ISO 8601 date-time between 1900 and 2199 (no offset means UTC)',
    };
  }
  if (tsMs > latestMs) {
    return {
      ok: false,
      line,
      reason: 'bad_timestamp',
      column: map.timestamp.name,
      detail: `timestamp ${TOO_FAR_AHEAD}`,
    };
  }
  const cells: CellResult[] = [];
  for (const col of map.values) {
    const text = fields[col.index] ?? '';
    if (text.trim() === '') continue;
    const n = parseNumber(text);
    if (n === undefined) {
      cells.push({ col, ok: false, reason: 'non_numeric', detail: `${col.type} is not a number` });
      continue;
    }
    const v = normalizeValue(col.type, n, col.unit);
    if (isValueProblem(v)) {
      cells.push({ col, ok: false, reason: 'impossible_value', detail: v.message });
    } else {
      cells.push({ col, ok: true, value: v.value, unit: v.unit });
    }
  }
  return { ok: true, line, email, tsMs, cells: rejectInvertedPair(cells) };
}

/** Rejects both blood-pressure cells of a row whose systolic is not above its diastolic. */
function rejectInvertedPair(cells: CellResult[]): CellResult[] {
  const sys = cells.find((c) => c.col.type === 'systolic');
  const dia = cells.find((c) => c.col.type === 'diastolic');
  if (!sys?.ok || !dia?.ok || bpPlausible(sys.value, dia.value)) return cells;
  const detail = `systolic ${sys.value} mmHg is not above diastolic ${dia.value} mmHg (columns swapped?)`;
  return cells.map((c) => (c === sys || c === dia ? { col: c.col, ok: false, reason: 'implausible_bp', detail } : c));
}

/** Serialises fields as one CSV line, quoting only where needed. */
export function toCsvLine(fields: readonly (string | number)[]): string {
  return fields
    .map((f) => {
      const s = String(f);
      return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
    })
    .join(',');
}

/** Physical lines a parsed record spans (1 plus the line breaks inside its fields). */
export function recordLineSpan(fields: readonly string[]): number {
  let span = 1;
  for (const f of fields) {
    if (f.length < 1 || (f.indexOf('\n') === -1 && f.indexOf('\r') === -1)) continue;
    span += f.match(/\r\n|\r|\n/g)?.length ?? 0;
  }
  return span;
}

/**
 * A record csv-parse gave up on, reported at the line where the record starts: csv-parse's
 * own message names the line it had reached, which for a quote that is never closed is
 * where its record size limit tripped, far below the quote. `code` is csv-parse's.
 */
export class CsvRecordError extends Error {
  constructor(
    readonly code: string,
    /** Physical line where the record starts (1-based; the header is line 1). */
    readonly line: number,
    detail: string,
  ) {
    super(`line ${line}: ${detail}`);
    this.name = 'CsvRecordError';
  }
}

/**
 * Restates csv-parse's errors about a whole record (too long, quote not closed) at the
 * line where the record starts; other errors are returned as they are.
 */
export function atRecordStart(err: Error, line: number): Error {
  const code = (err as { code?: unknown }).code;
  if (code === 'CSV_MAX_RECORD_SIZE') {
    return new CsvRecordError(
      code,
      line,
      `the record starting here is longer than ${CSV_PARSE_OPTIONS.max_record_size} bytes (a quote that is never closed?)`,
    );
  }
  if (code === 'CSV_QUOTE_NOT_CLOSED') {
    return new CsvRecordError(code, line, 'a quote in the record starting here is never closed');
  }
  return err;
}

/** csv-parse options shared by the file loader and the bulk endpoint. */
export const CSV_PARSE_OPTIONS = {
  bom: true,
  // Column count is checked per row, so a short or long row is rejected, not fatal.
  relax_column_count: true,
  // A stray quote inside a field is kept as text rather than failing the whole file.
  relax_quotes: true,
  // Blank lines arrive as one empty field and are skipped, keeping line numbers exact.
  skip_empty_lines: false,
  // An unclosed quote would otherwise swallow the rest of the file into one field.
  max_record_size: 64 * 1024,
} as const;

/** True for the record csv-parse yields for a blank line. */
export function isBlankRecord(fields: readonly string[]): boolean {
  return fields.length === 1 && (fields[0] ?? '').trim() === '';
}
