import { describe, expect, it } from 'vitest';
import {
  aggregateReadings,
  aggregatesAgree,
  avgOf,
  bucketEndOf,
  bucketKey,
  bucketStartOf,
  sumsAgree,
} from '../src/modules/analytics/analytics.buckets.js';

const d = (iso: string) => new Date(iso);

describe('bucketStartOf', () => {
  it.each([
    ['2025-03-01T10:00:00.000Z', '2025-03-01T10:00:00.000Z'],
    ['2025-03-01T10:59:59.999Z', '2025-03-01T10:00:00.000Z'],
    ['2025-03-01T10:30:00+05:30', '2025-03-01T05:00:00.000Z'],
    ['2025-03-01T00:15:00-01:00', '2025-03-01T01:00:00.000Z'],
    ['2024-02-29T23:59:59.999Z', '2024-02-29T23:00:00.000Z'],
    ['1969-12-31T23:30:00.000Z', '1969-12-31T23:00:00.000Z'],
  ])('puts %s into the UTC hour starting %s', (ts, start) => {
    expect(bucketStartOf(d(ts)).toISOString()).toBe(start);
  });

  it('is not affected by daylight saving changes (UTC hours are all one hour long)', () => {
    // 2025-03-30 01:00 UTC is when Europe moves clocks forward.
    expect(bucketStartOf(d('2025-03-30T01:00:00.001Z')).toISOString()).toBe('2025-03-30T01:00:00.000Z');
    expect(bucketEndOf(d('2025-03-30T01:00:00.000Z')).toISOString()).toBe('2025-03-30T02:00:00.000Z');
  });
});

describe('bucketEndOf and bucketKey', () => {
  it('ends a bucket one hour after its start, exclusive', () => {
    expect(bucketEndOf(d('2025-12-31T23:00:00Z')).toISOString()).toBe('2026-01-01T00:00:00.000Z');
  });

  it('identifies a bucket by patient, type and hour', () => {
    expect(bucketKey(7, 'glucose', d('2025-01-01T05:00:00Z'))).toBe('7|glucose|2025-01-01T05:00:00.000Z');
    expect(bucketKey(7, 'glucose', d('2025-01-01T05:00:00Z'))).not.toBe(
      bucketKey(7, 'weight', d('2025-01-01T05:00:00Z')),
    );
  });
});

describe('aggregateReadings', () => {
  it('keeps min, max, sum and count per bucket; avg is sum / count at full precision', () => {
    const out = aggregateReadings([
      { patientId: 1, type: 'glucose', value: 100, timestamp: d('2025-01-01T10:05:00Z') },
      { patientId: 1, type: 'glucose', value: 90.5, timestamp: d('2025-01-01T10:55:00Z') },
      { patientId: 1, type: 'glucose', value: 101, timestamp: d('2025-01-01T10:59:59.999Z') },
      { patientId: 1, type: 'glucose', value: 120, timestamp: d('2025-01-01T11:00:00Z') },
      { patientId: 1, type: 'weight', value: 70.25, timestamp: d('2025-01-01T10:10:00Z') },
      { patientId: 2, type: 'glucose', value: 80, timestamp: d('2025-01-01T10:10:00Z') },
    ]);
    expect([...out.values()]).toEqual([
      {
        patientId: 1,
        type: 'glucose',
        bucketStart: d('2025-01-01T10:00:00Z'),
        min: 90.5,
        max: 101,
        sum: 291.5,
        count: 3,
      },
      { patientId: 1, type: 'glucose', bucketStart: d('2025-01-01T11:00:00Z'), min: 120, max: 120, sum: 120, count: 1 },
      {
        patientId: 1,
        type: 'weight',
        bucketStart: d('2025-01-01T10:00:00Z'),
        min: 70.25,
        max: 70.25,
        sum: 70.25,
        count: 1,
      },
      { patientId: 2, type: 'glucose', bucketStart: d('2025-01-01T10:00:00Z'), min: 80, max: 80, sum: 80, count: 1 },
    ]);
    const first = out.get(bucketKey(1, 'glucose', d('2025-01-01T10:00:00Z')));
    expect(first && avgOf(first)).toBe(291.5 / 3);
    expect(first && avgOf(first)).not.toBe(97.17);
  });

  it('returns nothing for no readings', () => {
    expect(aggregateReadings([]).size).toBe(0);
  });
});

describe('tolerance', () => {
  it('accepts sums that differ only by summation order', () => {
    const a = 0.1 + 0.2 + 0.3;
    const b = 0.3 + 0.2 + 0.1;
    expect(a).not.toBe(b);
    expect(sumsAgree(a, b)).toBe(true);
    expect(aggregatesAgree({ min: 0.1, max: 0.3, sum: a, count: 3 }, { min: 0.1, max: 0.3, sum: b, count: 3 })).toBe(
      true,
    );
  });

  it('rejects real differences and any difference in min, max or count', () => {
    expect(sumsAgree(100, 100.001)).toBe(false);
    expect(sumsAgree(0, 1e-300)).toBe(false);
    const base = { min: 1, max: 2, sum: 3, count: 2 };
    expect(aggregatesAgree(base, { ...base, min: 1.0000000001 })).toBe(false);
    expect(aggregatesAgree(base, { ...base, max: 2.5 })).toBe(false);
    expect(aggregatesAgree(base, { ...base, count: 3 })).toBe(false);
  });
});
