import { describe, expect, it } from 'vitest';
import {
  hourStart,
  isValidDate,
  MAX_TIMESTAMP_MS,
  MIN_TIMESTAMP_MS,
  parseTimestamp,
} from '../src/domain/timestamps.js';

const iso = (text: string) => {
  const ms = parseTimestamp(text);
  return ms === undefined ? undefined : new Date(ms).toISOString();
};

describe('parseTimestamp', () => {
  it.each([
    ['2025-05-24T08:30:00Z', '2025-05-24T08:30:00.000Z'],
    ['2025-05-24T08:30:00z', '2025-05-24T08:30:00.000Z'],
    ['2025-05-24t08:30:00Z', '2025-05-24T08:30:00.000Z'],
    ['2025-05-24 08:30:00Z', '2025-05-24T08:30:00.000Z'],
    ['2025-05-24T08:30Z', '2025-05-24T08:30:00.000Z'],
    ['2025-05-24', '2025-05-24T00:00:00.000Z'],
  ])('reads %s as %s', (text, expected) => {
    expect(iso(text)).toBe(expected);
  });

  it('treats a timestamp without an offset as UTC, whatever the process time zone', () => {
    expect(iso('2025-05-24T08:30:00')).toBe('2025-05-24T08:30:00.000Z');
    expect(iso('2025-05-24 08:30')).toBe('2025-05-24T08:30:00.000Z');
  });

  it.each([
    ['2025-05-24T08:30:00+02:00', '2025-05-24T06:30:00.000Z'],
    ['2025-05-24T08:30:00+0200', '2025-05-24T06:30:00.000Z'],
    ['2025-05-24T08:30:00+02', '2025-05-24T06:30:00.000Z'],
    ['2025-05-24T08:30:00-05:00', '2025-05-24T13:30:00.000Z'],
    ['2025-05-24T08:30:00+05:45', '2025-05-24T02:45:00.000Z'],
    ['2025-05-24T08:30:00-00:00', '2025-05-24T08:30:00.000Z'],
    ['2025-01-01T00:30:00+01:00', '2024-12-31T23:30:00.000Z'],
    ['2024-12-31T23:30:00-01:00', '2025-01-01T00:30:00.000Z'],
  ])('converts the offset of %s to UTC %s', (text, expected) => {
    expect(iso(text)).toBe(expected);
  });

  it('keeps milliseconds exactly and truncates finer fractions', () => {
    expect(iso('2025-05-24T08:30:00.1Z')).toBe('2025-05-24T08:30:00.100Z');
    expect(iso('2025-05-24T08:30:00.12Z')).toBe('2025-05-24T08:30:00.120Z');
    expect(iso('2025-05-24T08:30:00,5Z')).toBe('2025-05-24T08:30:00.500Z');
    expect(iso('2025-05-24T08:30:00.999999999Z')).toBe('2025-05-24T08:30:00.999Z');
    // Every millisecond value survives: no floating-point rounding down.
    for (let ms = 0; ms < 1000; ms++) {
      const text = `2025-05-24T08:30:00.${String(ms).padStart(3, '0')}Z`;
      expect(parseTimestamp(text)).toBe(Date.UTC(2025, 4, 24, 8, 30, 0, ms));
    }
  });

  it.each([
    '2025-02-29T00:00:00Z', // not a leap year
    '2100-02-29T00:00:00Z', // century, not a leap year
    '2025-02-30T00:00:00Z',
    '2025-04-31T00:00:00Z',
    '2025-13-01T00:00:00Z',
    '2025-00-10T00:00:00Z',
    '2025-01-00T00:00:00Z',
    '2025-01-32T00:00:00Z',
    '2025-05-24T24:00:00Z',
    '2025-05-24T23:60:00Z',
    '2025-05-24T23:59:60Z',
    '2025-05-24T08:30:00+24:00',
    '2025-05-24T08:30:00+05:60',
  ])('rejects the impossible %s', (text) => {
    expect(parseTimestamp(text)).toBeUndefined();
  });

  it.each([
    '',
    'yesterday',
    '1716539400',
    '2025-5-24T08:30:00Z',
    '25-05-24T08:30:00Z',
    '2025-05-24T8:30:00Z',
    '2025-05-24T08:30:00.Z',
    '2025-05-24T08:30:00.1234567890Z',
    '2025-05-24T08:30:00+5',
    '2025-05-24T08:30:00 +02:00',
    '2025-05-24T08:30:00ZZ',
    ' 2025-05-24T08:30:00Z',
    '2025-05-24T08:30:00Z ',
    '+02025-05-24T08:30:00Z',
    '2025-05-24T08:30:00 UTC',
  ])('rejects the malformed %j', (text) => {
    expect(parseTimestamp(text)).toBeUndefined();
  });

  it('accepts 1900-01-01 up to, not including, 2200-01-01', () => {
    expect(parseTimestamp('1900-01-01T00:00:00Z')).toBe(MIN_TIMESTAMP_MS);
    expect(parseTimestamp('1899-12-31T23:59:59.999Z')).toBeUndefined();
    expect(parseTimestamp('1900-01-01T00:30:00+01:00')).toBeUndefined(); // 1899-12-31T23:30Z
    expect(parseTimestamp('2199-12-31T23:59:59.999Z')).toBe(MAX_TIMESTAMP_MS - 1);
    expect(parseTimestamp('2200-01-01T00:00:00Z')).toBeUndefined();
  });

  it('does not map two-digit years to the 1900s', () => {
    // Date.UTC(50, ...) is 1950; year 0050 must stay year 50, which is out of range.
    expect(parseTimestamp('0050-05-24T08:30:00Z')).toBeUndefined();
    expect(parseTimestamp('0099-12-31T23:59:59Z')).toBeUndefined();
    expect(parseTimestamp('0000-01-01T00:00:00Z')).toBeUndefined();
  });

  it('accepts 29 February in leap years', () => {
    expect(iso('2024-02-29T12:00:00Z')).toBe('2024-02-29T12:00:00.000Z');
    expect(iso('2000-02-29T12:00:00Z')).toBe('2000-02-29T12:00:00.000Z');
  });
});

describe('hourStart', () => {
  it('truncates to the UTC hour', () => {
    expect(hourStart(Date.UTC(2025, 4, 24, 8, 59, 59, 999))).toBe(Date.UTC(2025, 4, 24, 8));
    expect(hourStart(Date.UTC(2025, 4, 24, 8))).toBe(Date.UTC(2025, 4, 24, 8));
    // An instant written with a +05:45 offset still falls in its UTC hour.
    expect(hourStart(parseTimestamp('2025-05-24T08:30:00+05:45') as number)).toBe(Date.UTC(2025, 4, 24, 2));
  });
});

describe('isValidDate', () => {
  it.each(['1980-05-12', '2024-02-29', '2000-02-29', '0001-01-01', '9999-12-31'])('accepts %s', (text) => {
    expect(isValidDate(text)).toBe(true);
  });

  it.each([
    '1980-02-30',
    '2023-02-29',
    '1900-02-29',
    '1980-13-01',
    '1980-00-01',
    '1980-01-00',
    '0000-01-01', // PostgreSQL has no year 0
    '1980-5-12',
    '1980-05-12T00:00:00Z',
    '12/05/1980',
    '',
  ])('rejects %j', (text) => {
    expect(isValidDate(text)).toBe(false);
  });
});
