/** Reading positions by key: first position wins, keys never collide across types, times or patients. */
import { describe, expect, it } from 'vitest';
import { READING_TYPES } from '../src/domain/readings.js';
import { ReadingPositions } from '../src/modules/ingest/ingest.positions.js';

describe('ReadingPositions', () => {
  it('keeps the first position of a key and answers it', () => {
    const p = new ReadingPositions();
    expect(p.addFirst(7, 'glucose', 1_700_000_000_000, 0)).toBeUndefined();
    expect(p.addFirst(7, 'glucose', 1_700_000_000_000, 5)).toBe(0);
    expect(p.get(7, 'glucose', 1_700_000_000_000)).toBe(0);
    expect(p.get(7, 'glucose', 1_700_000_000_001)).toBeUndefined();
    expect(p.get(8, 'glucose', 1_700_000_000_000)).toBeUndefined();
  });

  it('tells apart neighbouring times and every type, before and after 1970, and provisional (negative) patients', () => {
    const p = new ReadingPositions();
    const times = [-2_208_988_800_000, -1, 0, 1, 1_700_000_000_000, 1_700_000_000_001, 4_102_444_799_999];
    const keys: [number, string, number][] = [];
    for (const patient of [-3, 1, 2])
      for (const type of READING_TYPES) for (const ts of times) keys.push([patient, type, ts]);
    keys.forEach(([patient, type, ts], i) => {
      expect(p.addFirst(patient, type, ts, i)).toBeUndefined();
    });
    keys.forEach(([patient, type, ts], i) => {
      expect(p.get(patient, type, ts)).toBe(i);
    });
  });

  it('refuses what is not a reading key rather than risk a collision', () => {
    const p = new ReadingPositions();
    expect(() => p.addFirst(1, 'pulse', 0, 0)).toThrow('not a reading key: pulse at 0');
    expect(() => p.get(1, 'glucose', 0.5)).toThrow('not a reading key: glucose at 0.5');
  });
});
