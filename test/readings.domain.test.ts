import { describe, expect, it } from 'vitest';
import {
  GLUCOSE_MGDL_PER_MMOLL,
  isReadingType,
  isValueProblem,
  KG_PER_LB,
  normalizeValue,
  READING_TYPES,
  TYPE_SPECS,
  unitFactor,
} from '../src/domain/readings.js';

describe('reading types', () => {
  it('knows the four types and their canonical units', () => {
    expect(READING_TYPES).toEqual(['glucose', 'systolic', 'diastolic', 'weight']);
    expect(Object.fromEntries(READING_TYPES.map((t) => [t, TYPE_SPECS[t].canonicalUnit]))).toEqual({
      glucose: 'mg/dL',
      systolic: 'mmHg',
      diastolic: 'mmHg',
      weight: 'kg',
    });
    expect(isReadingType('glucose')).toBe(true);
    expect(isReadingType('Glucose')).toBe(false);
    expect(isReadingType('heart_rate')).toBe(false);
    expect(isReadingType('constructor')).toBe(false);
  });
});

describe('unit conversion', () => {
  it('uses the exact factors', () => {
    expect(GLUCOSE_MGDL_PER_MMOLL).toBe(18.01559);
    expect(KG_PER_LB).toBe(0.45359237);
    expect(normalizeValue('glucose', 5.5, 'mmol/L')).toEqual({ value: 5.5 * 18.01559, unit: 'mg/dL' });
    expect(normalizeValue('weight', 150, 'lb')).toEqual({ value: 150 * 0.45359237, unit: 'kg' });
    expect(normalizeValue('weight', 150, 'lbs')).toEqual({ value: 150 * 0.45359237, unit: 'kg' });
  });

  it('leaves canonical values unchanged, with or without the unit', () => {
    expect(normalizeValue('glucose', 99.5)).toEqual({ value: 99.5, unit: 'mg/dL' });
    expect(normalizeValue('glucose', 99.5, 'mg/dL')).toEqual({ value: 99.5, unit: 'mg/dL' });
    expect(normalizeValue('systolic', 120, 'mmHg')).toEqual({ value: 120, unit: 'mmHg' });
    expect(normalizeValue('diastolic', 80)).toEqual({ value: 80, unit: 'mmHg' });
    expect(normalizeValue('weight', 72.25, 'kg')).toEqual({ value: 72.25, unit: 'kg' });
  });

  it('matches units in any letter case and ignores surrounding spaces', () => {
    expect(normalizeValue('glucose', 5, ' MMOL/L ')).toEqual({ value: 5 * 18.01559, unit: 'mg/dL' });
    expect(normalizeValue('systolic', 120, 'MMHG')).toEqual({ value: 120, unit: 'mmHg' });
    expect(unitFactor('weight', 'LB')).toBe(KG_PER_LB);
  });

  it.each([
    ['glucose', 'kg', 'this unit is not accepted for glucose; use mg/dL or mmol/L'],
    ['glucose', 'mmHg', 'this unit is not accepted for glucose; use mg/dL or mmol/L'],
    ['systolic', 'kPa', 'this unit is not accepted for systolic; use mmHg'],
    ['diastolic', 'mg/dL', 'this unit is not accepted for diastolic; use mmHg'],
    ['weight', 'stone', 'this unit is not accepted for weight; use kg or lb'],
    ['weight', '', 'this unit is not accepted for weight; use kg or lb'],
  ] as const)('rejects %s in %s', (type, unit, message) => {
    expect(normalizeValue(type, 80, unit)).toEqual({ reason: 'unknown_unit', message });
  });

  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'])(
    'does not take the object member %s for a unit',
    (unit) => {
      expect(unitFactor('glucose', unit)).toBeUndefined();
      const r = normalizeValue('glucose', 80, unit);
      expect(isValueProblem(r) && r.reason).toBe('unknown_unit');
    },
  );
});

describe('physiological limits', () => {
  const limits = [
    ['glucose', 10, 1500, 'mg/dL'],
    ['systolic', 40, 300, 'mmHg'],
    ['diastolic', 20, 200, 'mmHg'],
    ['weight', 0.5, 700, 'kg'],
  ] as const;

  it.each(limits)('%s accepts both edges %d and %d', (type, min, max, unit) => {
    expect(normalizeValue(type, min)).toEqual({ value: min, unit });
    expect(normalizeValue(type, max)).toEqual({ value: max, unit });
  });

  it.each(limits)('%s rejects values just outside %d..%d', (type, min, max, unit) => {
    const message = `${type} must be between ${min} and ${max} ${unit}`;
    expect(normalizeValue(type, min - 0.001)).toEqual({ reason: 'out_of_range', message });
    expect(normalizeValue(type, max + 0.001)).toEqual({ reason: 'out_of_range', message });
    expect(normalizeValue(type, 0)).toEqual({ reason: 'out_of_range', message });
    expect(normalizeValue(type, -1)).toEqual({ reason: 'out_of_range', message });
  });

  it('checks the range after conversion', () => {
    // 0.5 mmol/L = 9.0 mg/dL: below the glucose floor although 0.5 looks harmless.
    expect(normalizeValue('glucose', 0.5, 'mmol/L')).toMatchObject({ reason: 'out_of_range' });
    // 1600 lb = 725.7 kg: above the 700 kg ceiling; 1500 lb = 680.4 kg is accepted
    // although 1500 itself is above it.
    expect(normalizeValue('weight', 1600, 'lb')).toMatchObject({ reason: 'out_of_range' });
    expect(normalizeValue('weight', 1500, 'lb')).toEqual({ value: 1500 * KG_PER_LB, unit: 'kg' });
    // 84 mmol/L = 1513 mg/dL: above the glucose ceiling.
    expect(normalizeValue('glucose', 84, 'mmol/L')).toMatchObject({ reason: 'out_of_range' });
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])('rejects %d as not finite', (v) => {
    expect(normalizeValue('glucose', v)).toEqual({ reason: 'not_finite', message: 'value must be a finite number' });
  });

  it('rejects values that overflow during conversion and huge values', () => {
    expect(normalizeValue('glucose', Number.MAX_VALUE, 'mmol/L')).toEqual({
      reason: 'not_finite',
      message: 'value must be a finite number',
    });
    expect(normalizeValue('weight', 1e300)).toMatchObject({ reason: 'out_of_range' });
    expect(normalizeValue('weight', Number.MIN_VALUE)).toMatchObject({ reason: 'out_of_range' });
  });
});
