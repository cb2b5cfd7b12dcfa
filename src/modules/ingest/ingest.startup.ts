/**
 * The startup load: when the database has no patients yet, load the configured patients
 * and readings files (by default the bundled sample), optionally shifting the sample's
 * timestamps so its newest reading falls within the last hour.
 */
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type Config, SAMPLE_PATIENTS_FILE, SAMPLE_READINGS_FILE } from '../../config/config.js';
import { latestAcceptedMs } from '../../domain/timestamps.js';
import { countPatients } from '../patients/patients.repository.js';
import { auditedLoad } from './ingest.audit.js';
import type { IngestReport } from './ingest.report.js';
import { describeError, type IngestDeps, loadPatients, loadReadings, newestTimestamp } from './ingest.service.js';

const HOUR_MS = 3_600_000;

/** Whole hours to add so that `newestMs` lands in (now - 1 h, now]. */
export function shiftToNowMs(newestMs: number, nowMs: number): number {
  return Math.floor((nowMs - newestMs) / HOUR_MS) * HOUR_MS;
}

/** Bundled sample paths are relative to the project root; others to the working directory. */
function resolveFile(file: string, sample: string, projectRoot: string): string {
  return file === sample ? path.resolve(projectRoot, file) : path.resolve(file);
}

/**
 * Runs the startup load when the database is empty. Never throws: a failed load is
 * logged and the server starts anyway (re-running the load later is safe). The log
 * lines carry counts only, no PHI.
 */
export async function runStartupLoad(
  deps: IngestDeps,
  config: Pick<Config, 'etlPatientsFile' | 'etlReadingsFile' | 'etlShiftToNow'>,
  projectRoot: string,
): Promise<IngestReport | undefined> {
  const { log } = deps;
  try {
    if ((await countPatients(deps.database.db)) > 0) {
      log.info({ etl: 'skipped' }, 'startup load skipped: the database already has patients');
      return undefined;
    }
    const patientsFile = resolveFile(config.etlPatientsFile, SAMPLE_PATIENTS_FILE, projectRoot);
    const readingsFile = resolveFile(config.etlReadingsFile, SAMPLE_READINGS_FILE, projectRoot);
    const missing = [patientsFile, readingsFile].filter((f) => !existsSync(f));
    if (missing.length > 0) {
      log.warn({ etl: 'skipped', missing }, 'startup load skipped: data file not found');
      return undefined;
    }
    const started = Date.now();
    let shiftMs = 0;
    if (config.etlShiftToNow) {
      const nowMs = deps.now().getTime();
      const newest = await newestTimestamp(createReadStream(readingsFile), latestAcceptedMs(nowMs));
      if (newest !== undefined) shiftMs = shiftToNowMs(newest, nowMs);
    }
    const db = deps.database.db;
    const patients = await auditedLoad(
      db,
      { via: 'startup', kind: 'patients', file: patientsFile },
      async (ids) => {
        const result = await loadPatients(deps, readFileSync(patientsFile, 'utf8'));
        for (const id of result.patientIds) ids.add(id);
        return result;
      },
      (result) => result.report,
    );
    const readings = await auditedLoad(
      db,
      { via: 'startup', kind: 'readings', file: readingsFile },
      (patientIds) => loadReadings(deps, createReadStream(readingsFile), { shiftMs, patientIds }),
      (result) => result,
    );
    const report: IngestReport = {
      dryRun: false,
      patients: patients.report,
      readings,
      elapsedMs: Date.now() - started,
    };
    log.info(
      {
        etl: 'done',
        shiftedHours: shiftMs / HOUR_MS,
        patients: {
          records: patients.report.records,
          inserted: patients.report.inserted,
          updated: patients.report.updated,
          rejected: patients.report.rejected,
        },
        rows: { read: readings.rows.read, loaded: readings.rows.loaded, rejected: readings.rows.rejected },
        readings: {
          inserted: readings.readings.inserted,
          updated: readings.readings.updated,
          unchanged: readings.readings.unchanged,
          duplicate: readings.readings.duplicate,
          rejected: readings.readings.rejected,
        },
        rejectedByReason: { ...readings.rows.rejectedByReason, ...readings.readings.rejectedByReason },
        elapsedMs: report.elapsedMs,
      },
      `startup load: ${patients.report.inserted} patients and ${readings.readings.inserted} readings loaded, ${readings.rows.rejected + readings.readings.rejected} rejected`,
    );
    return report;
  } catch (err) {
    log.warn({ etl: 'failed', error: describeError(err) }, 'startup load failed; the server starts without it');
    return undefined;
  }
}
