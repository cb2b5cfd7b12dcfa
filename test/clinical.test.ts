import { describe, expect, it } from 'vitest';
import { attention, bpCategory, bpPlausible, glucoseStatus, percent } from '../src/domain/clinical.js';
import { GLUCOSE_MGDL_PER_MMOLL } from '../src/domain/readings.js';

describe('glucoseStatus', () => {
  it.each([
    [53.4, 'very_low'],
    [53.5, 'low'],
    [69.4, 'low'],
    [69.5, 'in_range'],
    [70, 'in_range'],
    [180, 'in_range'],
    [180.4, 'in_range'],
    [180.5, 'high'],
    [250.4, 'high'],
    [250.5, 'very_high'],
  ])('%d mg/dL is %s (classified as rounded to whole mg/dL)', (v, status) => {
    expect(glucoseStatus(v)).toBe(status);
  });

  // The consensus cut-offs in mmol/L land on the same side as their mg/dL counterparts.
  it.each([
    [2.9, 'very_low'],
    [3.0, 'low'],
    [3.9, 'in_range'],
    [10.0, 'in_range'],
    [10.1, 'high'],
    [13.9, 'high'],
    [14.0, 'very_high'],
  ])('%d mmol/L is %s', (mmol, status) => {
    expect(glucoseStatus(mmol * GLUCOSE_MGDL_PER_MMOLL)).toBe(status);
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
    [80, 120, null],
    [120, 120, null],
    [122, 121, 'crisis'],
  ])('%d/%d mmHg is %s', (s, d, category) => {
    expect(bpCategory(s, d)).toBe(category);
  });

  it('calls a pair plausible only when systolic is above diastolic', () => {
    expect([bpPlausible(121, 120), bpPlausible(120, 120), bpPlausible(70, 110)]).toEqual([true, false, false]);
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
  const since = new Date('2025-06-01T12:00:00Z');
  const at = new Date('2025-06-15T11:00:00Z');
  const glucose = (value: number, timestamp = at) => ({ value, timestamp });
  const bp = (systolic: number, diastolic: number, timestamp = at) => ({ systolic, diastolic, timestamp });
  const score = (input: Partial<Parameters<typeof attention>[0]>) =>
    attention({ latestGlucose: null, bp: null, range: noRange, since, ...input });

  it('is zero with nothing to report', () => {
    expect(score({ latestGlucose: glucose(110), bp: bp(115, 75) })).toEqual({ score: 0, reasons: [] });
    expect(score({})).toEqual({ score: 0, reasons: [] });
  });

  it('adds the points of every finding, most serious first', () => {
    const r = score({
      latestGlucose: glucose(260),
      bp: bp(145, 85),
      range: { readings: 20, inRange: 8, below: 2, above: 10 },
    });
    expect(r.reasons.map((x) => x.code)).toEqual(['glucose_very_high', 'bp_stage_2', 'tir_very_low', 'tbr_high']);
    expect(r.score).toBe(50 + 30 + 25 + 20);
  });

  it('ranks a hypoglycaemic patient above a hypertensive crisis above stage 1', () => {
    const hypo = score({ latestGlucose: glucose(50) }).score;
    const crisis = score({ bp: bp(190, 100) }).score;
    const stage1 = score({ bp: bp(132, 70) }).score;
    expect(hypo).toBeGreaterThan(crisis);
    expect(crisis).toBeGreaterThan(stage1);
    expect(stage1).toBeGreaterThan(0);
  });

  it('flags an inverted blood-pressure pair as a data-quality finding, not a crisis', () => {
    expect(score({ bp: bp(80, 130) })).toEqual({
      score: 5,
      reasons: [
        {
          code: 'bp_implausible',
          message: 'Blood pressure pair with diastolic at or above systolic; check the device',
          points: 5,
        },
      ],
    });
  });

  it('counts the latest glucose and blood pressure only from the start of the window', () => {
    const before = new Date(since.getTime() - 1);
    expect(score({ latestGlucose: glucose(40, before), bp: bp(200, 130, before) })).toEqual({ score: 0, reasons: [] });
    expect(score({ latestGlucose: glucose(40, since), bp: bp(200, 130, since) }).reasons.map((x) => x.code)).toEqual([
      'glucose_very_low',
      'bp_crisis',
    ]);
  });

  it('ignores time in range until there are enough readings', () => {
    expect(score({ range: { readings: 9, inRange: 0, below: 9, above: 0 } }).score).toBe(0);
    const ten = score({ range: { readings: 10, inRange: 6, below: 0, above: 4 } });
    expect(ten.reasons.map((x) => x.code)).toEqual(['tir_low']);
  });
});
