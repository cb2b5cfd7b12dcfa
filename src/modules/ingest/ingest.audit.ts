/**
 * The audit event of a loader run: one per file a door loads (the `etl` command, the
 * start-up load). Counts only, no PHI; the patients the file touched are named so the
 * trail answers "who wrote to patient X" for loads as it does for API requests.
 */
import path from 'node:path';
import type { DbOrTx } from '../../db/database.js';
import { insertAuditEvents } from '../audit/audit.repository.js';
import type { PatientsReport, ReadingsReport } from './ingest.report.js';

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
