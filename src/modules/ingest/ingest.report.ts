/**
 * What a load did, in counts that add up, and the rejects file listing every rejected
 * row, cell and patient record. Counts carry no PHI, so they may be logged.
 *
 * Rows:      read = loaded + duplicate + rejected
 * Readings:  every non-empty value cell of a row that was not rejected is exactly one of
 *            inserted, updated, unchanged, duplicate or rejected.
 * Patients:  records = inserted + updated + unchanged + duplicate + rejected
 */
import { once } from 'node:events';
import { closeSync, createWriteStream, fchmodSync, openSync, type WriteStream } from 'node:fs';
import { toCsvLine } from './ingest.csv.js';

/** Why a row, a reading or a patient record was rejected (stable codes). */
export type RejectReason =
  // whole row (readings file)
  | 'wrong_column_count'
  | 'bad_email'
  | 'bad_timestamp'
  | 'unknown_patient'
  // one reading
  | 'non_numeric'
  | 'impossible_value'
  | 'unknown_unit'
  | 'conflicting_duplicate'
  | 'invalid_item'
  // a systolic/diastolic pair with diastolic at or above systolic (both readings)
  | 'implausible_bp'
  // one patient record
  | 'malformed_json'
  | 'invalid_record';

export type ReasonCounts = Partial<Record<RejectReason, number>>;

/** One line of the rejects file. */
export interface Reject {
  source: 'readings' | 'patients';
  /** Physical line in the input file (1-based; the CSV header is line 1). */
  line: number;
  /** Column (CSV) or property (JSON) at fault; empty when the whole row is. */
  column: string;
  reason: RejectReason;
  /** Human-readable explanation. */
  detail: string;
  /** The rejected row or record as read. */
  original: string;
}

export interface PatientsReport {
  records: number;
  inserted: number;
  updated: number;
  unchanged: number;
  /** Repeats of an earlier record of the file with the same content. */
  duplicate: number;
  rejected: number;
  rejectedByReason: ReasonCounts;
  /** Properties present in the file that patients do not have (ignored). */
  ignoredProperties: string[];
}

export interface ReadingsReport {
  rows: {
    read: number;
    /** Accepted rows (a rejected cell does not reject its row). */
    loaded: number;
    /** Rows whose every reading repeats an earlier row of the file. */
    duplicate: number;
    rejected: number;
    rejectedByReason: ReasonCounts;
  };
  readings: {
    inserted: number;
    updated: number;
    /** Already stored with the same value. */
    unchanged: number;
    /** Repeats a reading given earlier in the same file, with the same value. */
    duplicate: number;
    rejected: number;
    rejectedByReason: ReasonCounts;
  };
  /** Rows appended to the analytics change buffer (one per touched hour bucket and batch). */
  bucketsTouched: number;
  batches: number;
}

export interface IngestReport {
  dryRun: boolean;
  /** The run was stopped before its end (by this signal, on the command line). */
  stopped?: string;
  patients?: PatientsReport;
  readings?: ReadingsReport;
  elapsedMs: number;
}

export function emptyPatientsReport(): PatientsReport {
  return {
    records: 0,
    inserted: 0,
    updated: 0,
    unchanged: 0,
    duplicate: 0,
    rejected: 0,
    rejectedByReason: {},
    ignoredProperties: [],
  };
}

export function emptyReadingsReport(): ReadingsReport {
  return {
    rows: { read: 0, loaded: 0, duplicate: 0, rejected: 0, rejectedByReason: {} },
    readings: { inserted: 0, updated: 0, unchanged: 0, duplicate: 0, rejected: 0, rejectedByReason: {} },
    bucketsTouched: 0,
    batches: 0,
  };
}

export function countReason(counts: ReasonCounts, reason: RejectReason, n = 1): void {
  counts[reason] = (counts[reason] ?? 0) + n;
}

/** Total number of rejected readings and rows, the number `--strict` fails on. */
export function rejectedTotal(report: IngestReport): number {
  return (
    (report.patients?.rejected ?? 0) + (report.readings?.rows.rejected ?? 0) + (report.readings?.readings.rejected ?? 0)
  );
}

function reasons(counts: ReasonCounts): string {
  return Object.entries(counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

/** One line per part plus one per non-empty reason list; the first line is the summary. */
export function formatReport(report: IngestReport): string[] {
  const parts: string[] = [];
  const p = report.patients;
  const r = report.readings;
  if (p) {
    parts.push(
      `patients ${p.records} read: ${p.inserted} inserted, ${p.updated} updated, ${p.unchanged} unchanged, ${p.duplicate} duplicate, ${p.rejected} rejected`,
    );
  }
  if (r) {
    parts.push(
      `rows ${r.rows.read} read: ${r.rows.loaded} loaded, ${r.rows.duplicate} duplicate, ${r.rows.rejected} rejected`,
    );
    parts.push(
      `readings ${r.readings.inserted} inserted, ${r.readings.updated} updated, ${r.readings.unchanged} unchanged, ${r.readings.duplicate} duplicate, ${r.readings.rejected} rejected`,
    );
  }
  const secs = report.elapsedMs / 1000;
  const rate = r && secs > 0 ? `, ${Math.round(r.rows.read / secs)} rows/s` : '';
  const lines = [
    `${report.stopped ? `stopped by ${report.stopped}: ` : ''}${report.dryRun ? 'dry run (nothing written): ' : ''}${parts.length > 0 ? parts.join('; ') : 'nothing read'}; ${secs.toFixed(1)} s${rate}`,
  ];
  if (p && p.rejected > 0) lines.push(`  rejected patient records: ${reasons(p.rejectedByReason)}`);
  if (p && p.ignoredProperties.length > 0)
    lines.push(`  ignored patient properties: ${p.ignoredProperties.join(', ')}`);
  if (r && r.rows.rejected > 0) lines.push(`  rejected rows: ${reasons(r.rows.rejectedByReason)}`);
  if (r && r.readings.rejected > 0) lines.push(`  rejected readings: ${reasons(r.readings.rejectedByReason)}`);
  return lines;
}

/** Receives rejects in input order. */
export interface RejectSink {
  write(rejects: readonly Reject[]): void | Promise<void>;
}

export const REJECTS_HEADER = 'source,line,column,reason,detail,original';

/**
 * Streams rejects to a CSV file, honouring backpressure. The file quotes rejected lines
 * (names, dates of birth, emails), so it is readable and writable by its owner only (0600).
 */
export class RejectsFile implements RejectSink {
  private readonly out: WriteStream;
  private failure: Error | undefined;
  private closed = false;

  /** Opens `file` in the background; a failure surfaces on the first write or on close. */
  constructor(file: string, fd?: number) {
    this.out = createWriteStream(file, { encoding: 'utf8', mode: 0o600, ...(fd === undefined ? {} : { fd }) });
    this.out.on('error', (err) => {
      this.failure = err;
    });
    // `mode` only applies to a new file; an existing one is truncated but keeps its mode.
    // 'open' is emitted before the first buffered write is issued.
    this.out.on('open', (openedFd: number) => {
      try {
        fchmodSync(openedFd, 0o600);
      } catch (err) {
        this.failure = err as Error;
      }
    });
    this.out.write(`${REJECTS_HEADER}\n`);
  }

  /**
   * Opens (creates or truncates) `file` at once, mode 0600, so that a path that cannot be
   * written fails here, before anything is loaded. Throws the file system's error.
   */
  static openNow(file: string): RejectsFile {
    const fd = openSync(file, 'w', 0o600);
    try {
      fchmodSync(fd, 0o600);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    return new RejectsFile(file, fd);
  }

  async write(rejects: readonly Reject[]): Promise<void> {
    if (this.failure) throw this.failure;
    if (rejects.length === 0) return;
    const text = rejects.map((r) => toCsvLine([r.source, r.line, r.column, r.reason, r.detail, r.original])).join('\n');
    if (!this.out.write(`${text}\n`)) await once(this.out, 'drain');
  }

  /** Flushes and closes the file; closing it again does nothing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.failure) {
      this.out.destroy();
      throw this.failure;
    }
    await new Promise<void>((resolve, reject) => {
      this.out.end((err?: Error | null) => (err ? reject(err) : resolve()));
    });
  }
}
