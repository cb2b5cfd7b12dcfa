/**
 * Files for the loading scenario: patients.json and readings.csv from the project
 * generator, and the same readings pre-converted to the biometrics column layout for
 * the COPY baseline (conversion is not timed: COPY gets its best case).
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { writePatientsJson, writeReadingsCsv } from '../../scripts/gen-data.js';
import type { BenchContext } from './context.js';

export interface LoadFiles {
  patientsFile: string;
  readingsFile: string;
  rows: number;
  patients: number;
  seed: number;
}

export const DATA_SEED = 7;

/** Generates (once per size) patients.json and readings.csv with `rows` data rows. */
export function loadFiles(ctx: BenchContext, rows: number, patients: number): Promise<LoadFiles> {
  return ctx.fixture(`dataset:${rows}:${patients}`, async () => {
    const dir = ctx.dir(`data-${rows}`);
    const patientsFile = path.join(dir, 'patients.json');
    const readingsFile = path.join(dir, 'readings.csv');
    const t0 = Date.now();
    await writePatientsJson({ file: patientsFile, patients, seed: DATA_SEED });
    // A year of data: enough spread that a million rows stay under one reading per patient-second.
    await writeReadingsCsv({ file: readingsFile, patients, rows, days: 365, seed: DATA_SEED });
    ctx.log(`  generated ${rows.toLocaleString('en-US')} CSV rows in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return { value: { patientsFile, readingsFile, rows, patients, seed: DATA_SEED }, close: async () => {} };
  });
}

const COLUMNS = [
  ['glucose', 'mg/dL'],
  ['systolic', 'mmHg'],
  ['diastolic', 'mmHg'],
  ['weight', 'kg'],
] as const;

/**
 * Writes `patient_id,type,value,unit,timestamp` lines for every non-empty reading cell of
 * a reference-format CSV; returns the number of readings.
 */
export async function toCopyFile(csvFile: string, outFile: string, idByEmail: Map<string, number>): Promise<number> {
  const out = createWriteStream(outFile);
  const lines = createInterface({ input: createReadStream(csvFile), crlfDelay: Number.POSITIVE_INFINITY });
  let header = true;
  let readings = 0;
  let buf = '';
  for await (const line of lines) {
    if (header) {
      header = false;
      continue;
    }
    if (!line) continue;
    const c = line.split(',');
    const id = idByEmail.get((c[0] ?? '').toLowerCase());
    if (id === undefined) throw new Error(`unknown patient in ${csvFile}`);
    const ts = `${c[1]}Z`;
    for (let k = 0; k < 4; k++) {
      const v = c[2 + k];
      if (!v) continue;
      const [type, unit] = COLUMNS[k] as readonly [string, string];
      buf += `${id},${type},${v},${unit},${ts}\n`;
      readings++;
    }
    if (buf.length > 1 << 16) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
  return readings;
}
