import { describe, expect, it } from 'vitest';
import { attention, bpCategory, glucoseStatus, percent } from '../src/domain/clinical.js';

describe('glucoseStatus', () => {
  it.each([
    [53.9, 'very_low'],
    [54, 'low'],
    [69.9, 'low'],
    [70, 'in_range'],
    [180, 'in_range'],
    [180.1, 'high'],
    [250, 'high'],
    [250.1, 'very_high'],
  ])('%d mg/dL is %s', (v, status) => {
    expect(glucoseStatus(v)).toBe(status);
  });
});

describe('bpCategory (ACC/AHA 2017)', () => {
  it.each([
    [119, 79, 'normal'],
    [120, 79, 'elevated'],
    [129, 79, 'elevated'],
    [125, 80, 'stage_1'],
    [130, 70, 'stage_1'],
    [139, 89, 'stage_1'],
    [140, 70, 'stage_2'],
    [118, 90, 'stage_2'],
    [180, 120, 'stage_2'],
    [181, 80, 'crisis'],
    [150, 121, 'crisis'],
  ])('%d/%d mmHg is %s', (s, d, category) => {
    expect(bpCategory(s, d)).toBe(category);
  });
});

describe('percent', () => {
  it('rounds to one decimal and is null without readings', () => {
    expect(percent(2, 3)).toBe(66.7);
    expect(percent(0, 0)).toBeNull();
  });
});

describe('attention', () => {
  const noRange = { readings: 0, inRange: 0, below: 0, above: 0 };

  it('is zero with nothing to report', () => {
    expect(attention({ latestGlucose: 110, bp: { systolic: 115, diastolic: 75 }, range: noRange })).toEqual({
      score: 0,
      reasons: [],
    });
    expect(attention({ latestGlucose: null, bp: null, range: noRange })).toEqual({ score: 0, reasons: [] });
  });

  it('adds the points of every finding, most serious first', () => {
    const r = attention({
      latestGlucose: 260,
      bp: { systolic: 145, diastolic: 85 },
      range: { readings: 20, inRange: 8, below: 2, above: 10 },
    });
    expect(r.reasons.map((x) => x.code)).toEqual(['glucose_very_high', 'bp_stage_2', 'tir_very_low', 'tbr_high']);
    expect(r.score).toBe(50 + 30 + 25 + 20);
  });

  it('ranks a hypoglycaemic patient above a hypertensive crisis above stage 1', () => {
    const hypo = attention({ latestGlucose: 50, bp: null, range: noRange }).score;
    const crisis = attention({ latestGlucose: null, bp: { systolic: 190, diastolic: 100 }, range: noRange }).score;
    const stage1 = attention({ latestGlucose: null, bp: { systolic: 132, diastolic: 70 }, range: noRange }).score;
    expect(hypo).toBeGreaterThan(crisis);
    expect(crisis).toBeGreaterThan(stage1);
    expect(stage1).toBeGreaterThan(0);
  });

  it('ignores time in range until there are enough readings', () => {
    expect(
      attention({ latestGlucose: null, bp: null, range: { readings: 9, inRange: 0, below: 9, above: 0 } }).score,
    ).toBe(0);
    const ten = attention({ latestGlucose: null, bp: null, range: { readings: 10, inRange: 6, below: 0, above: 4 } });
    expect(ten.reasons.map((x) => x.code)).toEqual(['tir_low']);
  });
});
