/**
 * The audit event of a loader run: one per file a door loads (the `etl` command, the
 * start-up load). Counts only, no PHI; the patients the file touched are named so the
 * trail answers "who wrote to patient X" for loads as it does for API requests.
 */
import path from 'node:path';
import type { DbOrTx } from '../../db/database.js';
import { insertAuditEvents } from '../audit/audit.repository.js';
import type { PatientsReport, ReadingsReport } from './ingest.report.js';
import { describeError, LoadStoppedError } from './ingest.service.js';

export interface LoadAuditEvent {
  /** `cli` for `patientpulse etl`, `startup` for the server's start-up load. */
  via: 'cli' | 'startup';
  kind: 'patients' | 'readings';
  file: string;
  /** The run failed part-way (batches committed before the failure stay). */
  error?: string;
  report?: PatientsReport | ReadingsReport;
  patientIds: readonly number[];
}

/** Writes the event; `action` is `etl patients` / `etl readings` (or `startup load ...`). */
export async function recordLoadEvent(db: DbOrTx, e: LoadAuditEvent): Promise<void> {
  const counts =
    e.report && 'rows' in e.report
      ? { rows: e.report.rows, readings: e.report.readings }
      : e.report
        ? {
            records: e.report.records,
            inserted: e.report.inserted,
            updated: e.report.updated,
            unchanged: e.report.unchanged,
            duplicate: e.report.duplicate,
            rejected: e.report.rejected,
            rejectedByReason: e.report.rejectedByReason,
          }
        : undefined;
  await insertAuditEvents(db, [
    {
      action: `${e.via === 'cli' ? 'etl' : 'startup load'} ${e.kind}`,
      outcome: e.error === undefined ? 'allowed' : 'error',
      patientIds: [...new Set(e.patientIds)].sort((a, b) => a - b),
      detail: {
        via: e.via,
        file: path.basename(e.file),
        ...(counts ? { counts } : {}),
        ...(e.error === undefined ? {} : { error: e.error }),
      },
    },
  ]);
}

/** How {@link auditedLoad} records a file's load. */
export interface AuditedLoadOptions {
  /** Record nothing (a dry run). */
  skip?: boolean;
  /** Called when the event of a failed load cannot be written; the load's own error is rethrown. */
  onRecordError?: (err: unknown) => void;
}

/**
 * Runs one file's load and records its audit event: with its counts when it completes,
 * with the error (and the patients reached so far) when it fails part-way, and with both
 * when it was stopped ({@link LoadStoppedError}). `load` fills
 * `patientIds` with the stored patients the file names.
 */
export async function auditedLoad<T>(
  db: DbOrTx,
  event: Pick<LoadAuditEvent, 'via' | 'kind' | 'file'>,
  load: (patientIds: Set<number>) => Promise<T>,
  reportOf: (result: T) => PatientsReport | ReadingsReport,
  opts: AuditedLoadOptions = {},
): Promise<T> {
  const patientIds = new Set<number>();
  let result: T;
  try {
    result = await load(patientIds);
  } catch (err) {
    if (!opts.skip) {
      // A stopped load knows what its committed batches did; a failed one only its error.
      const report = err instanceof LoadStoppedError ? err.report : undefined;
      await recordLoadEvent(db, { ...event, error: describeError(err), report, patientIds: [...patientIds] }).catch(
        (recordErr: unknown) => opts.onRecordError?.(recordErr),
      );
    }
    throw err;
  }
  if (!opts.skip) await recordLoadEvent(db, { ...event, report: reportOf(result), patientIds: [...patientIds] });
  return result;
}
