/**
 * Where each reading of a batch sits, by its key (patient, type, timestamp). The loader
 * looks a key up once per reading and once per row the database returns; a string key per
 * lookup made this about four times slower and was a large share of the bulk endpoint's
 * garbage (docs/DESIGN.md, "Loading").
 */
import { READING_TYPES } from '../../domain/readings.js';

const TYPE_INDEX = new Map<string, number>(READING_TYPES.map((t, i) => [t, i]));
const TYPES = READING_TYPES.length;

/** `tsMs * TYPES + type index`: exact and unique for integral epoch milliseconds below 2^50. */
function timeTypeKey(type: string, tsMs: number): number {
  const t = TYPE_INDEX.get(type);
  if (t === undefined || !Number.isInteger(tsMs)) throw new Error(`not a reading key: ${type} at ${tsMs}`);
  return tsMs * TYPES + t;
}

/** Positions of readings by key: one map per patient, keyed by time and type. */
export class ReadingPositions {
  private readonly byPatient = new Map<number, Map<number, number>>();

  /** The position recorded for this key, if any. */
  get(patientId: number, type: string, tsMs: number): number | undefined {
    const key = timeTypeKey(type, tsMs);
    return this.byPatient.get(patientId)?.get(key);
  }

  /** Records `position` for the key unless one is recorded; returns the earlier one, if any. */
  addFirst(patientId: number, type: string, tsMs: number, position: number): number | undefined {
    const key = timeTypeKey(type, tsMs);
    let times = this.byPatient.get(patientId);
    if (times === undefined) {
      times = new Map();
      this.byPatient.set(patientId, times);
    }
    const earlier = times.get(key);
    if (earlier === undefined) times.set(key, position);
    return earlier;
  }
}
