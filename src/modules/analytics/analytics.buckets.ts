/**
 * Bucket maths shared by the read side and the tests: a bucket is (patient, type, UTC hour
 * of the reading's timestamp), and its aggregate keeps min, max, the exact count and the
 * running sum, from which the average is derived (never stored, never rounded).
 */

/** One hour in milliseconds. */
export const HOUR_MS = 3_600_000;

/** Start of the UTC hour containing `t` (what `date_trunc('hour', t, 'UTC')` returns). */
export function bucketStartOf(t: Date): Date {
  const ms = t.getTime();
  return new Date(ms - (((ms % HOUR_MS) + HOUR_MS) % HOUR_MS));
}

/** Exclusive end of the bucket that starts at `start`. */
export function bucketEndOf(start: Date): Date {
  return new Date(start.getTime() + HOUR_MS);
}

/** Identity of a bucket, usable as a map key. */
export function bucketKey(patientId: number, type: string, bucketStart: Date): string {
  return `${patientId}|${type}|${bucketStart.toISOString()}`;
}

/** What the analytics store keeps for one bucket. */
export interface BucketAggregate {
  min: number;
  max: number;
  sum: number;
  count: number;
}

/** The average of a bucket: sum / count, at full precision. */
export function avgOf(a: BucketAggregate): number {
  return a.sum / a.count;
}

/** Aggregates readings into buckets (an in-memory model of a full recompute). */
export function aggregateReadings(
  readings: Iterable<{ patientId: number; type: string; value: number; timestamp: Date }>,
): Map<string, BucketAggregate & { patientId: number; type: string; bucketStart: Date }> {
  const out = new Map<string, BucketAggregate & { patientId: number; type: string; bucketStart: Date }>();
  for (const r of readings) {
    const bucketStart = bucketStartOf(r.timestamp);
    const key = bucketKey(r.patientId, r.type, bucketStart);
    const cur = out.get(key);
    if (cur) {
      cur.min = Math.min(cur.min, r.value);
      cur.max = Math.max(cur.max, r.value);
      cur.sum += r.value;
      cur.count += 1;
    } else {
      out.set(key, {
        patientId: r.patientId,
        type: r.type,
        bucketStart,
        min: r.value,
        max: r.value,
        sum: r.value,
        count: 1,
      });
    }
  }
  return out;
}

/**
 * Relative tolerance for sums (and so averages) computed by different engines: the
 * database adds doubles in scan order, which differs between a full recompute and an
 * index range scan, so sums may differ in the last bits. Min, max and count are exact.
 */
export const SUM_RELATIVE_TOLERANCE = 1e-9;

/** True when two sums agree within {@link SUM_RELATIVE_TOLERANCE}. */
export function sumsAgree(a: number, b: number, rel = SUM_RELATIVE_TOLERANCE): boolean {
  if (a === b) return true;
  return Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b), Number.MIN_VALUE);
}

/** True when two aggregates agree: min, max and count exactly, the sum within tolerance. */
export function aggregatesAgree(a: BucketAggregate, b: BucketAggregate, rel = SUM_RELATIVE_TOLERANCE): boolean {
  return a.min === b.min && a.max === b.max && a.count === b.count && sumsAgree(a.sum, b.sum, rel);
}
