/**
 * Clinical classifications used by the patient summary: glucose ranges (International
 * Consensus on Time in Range, 2019), blood-pressure categories (ACC/AHA 2017) and an
 * attention score that orders a patient panel. The score is a triage aid for sorting,
 * not a validated risk score.
 */

/** Glucose target range in mg/dL, inclusive at both ends. */
export const GLUCOSE_TARGET_LOW = 70;
export const GLUCOSE_TARGET_HIGH = 180;
/** Level 2 hypoglycaemia and the "very high" threshold, mg/dL. */
export const GLUCOSE_VERY_LOW = 54;
export const GLUCOSE_VERY_HIGH = 250;
/** Length of the time-in-range window, in days. */
export const TIME_IN_RANGE_DAYS = 14;

export const GLUCOSE_STATUSES = ['very_low', 'low', 'in_range', 'high', 'very_high'] as const;
export type GlucoseStatus = (typeof GLUCOSE_STATUSES)[number];

export const BP_CATEGORIES = ['normal', 'elevated', 'stage_1', 'stage_2', 'crisis'] as const;
export type BpCategory = (typeof BP_CATEGORIES)[number];

/** Classifies one glucose value in mg/dL. */
export function glucoseStatus(mgdl: number): GlucoseStatus {
  if (mgdl < GLUCOSE_VERY_LOW) return 'very_low';
  if (mgdl < GLUCOSE_TARGET_LOW) return 'low';
  if (mgdl <= GLUCOSE_TARGET_HIGH) return 'in_range';
  if (mgdl <= GLUCOSE_VERY_HIGH) return 'high';
  return 'very_high';
}

/**
 * ACC/AHA 2017 category of one systolic/diastolic pair (mmHg). When the two values fall
 * into different categories, the higher one applies; "crisis" is above 180 and/or 120.
 */
export function bpCategory(systolic: number, diastolic: number): BpCategory {
  if (systolic > 180 || diastolic > 120) return 'crisis';
  if (systolic >= 140 || diastolic >= 90) return 'stage_2';
  if (systolic >= 130 || diastolic >= 80) return 'stage_1';
  if (systolic >= 120) return 'elevated';
  return 'normal';
}

/** Glucose readings of a window, split by range. */
export interface RangeCounts {
  readings: number;
  inRange: number;
  below: number;
  above: number;
}

/** Percentage rounded to one decimal, or null without readings. */
export function percent(part: number, whole: number): number | null {
  return whole > 0 ? Math.round((part / whole) * 1000) / 10 : null;
}

/** Minimum glucose readings in the window before time in range counts for attention. */
export const MIN_READINGS_FOR_TIR = 10;

export interface AttentionReason {
  code: string;
  message: string;
  points: number;
}

export interface AttentionInput {
  latestGlucose: number | null;
  bp: { systolic: number; diastolic: number } | null;
  range: RangeCounts;
}

/**
 * Scores how urgently a patient needs a look: the sum of the points of each finding,
 * reasons listed most serious first. Thresholds follow the consensus targets (time in
 * range above 70 %, time below range under 4 %).
 */
export function attention(input: AttentionInput): { score: number; reasons: AttentionReason[] } {
  const reasons: AttentionReason[] = [];
  if (input.latestGlucose !== null) {
    const s = glucoseStatus(input.latestGlucose);
    if (s === 'very_low')
      reasons.push({ code: 'glucose_very_low', message: 'Latest glucose below 54 mg/dL', points: 100 });
    if (s === 'low') reasons.push({ code: 'glucose_low', message: 'Latest glucose below 70 mg/dL', points: 60 });
    if (s === 'very_high')
      reasons.push({ code: 'glucose_very_high', message: 'Latest glucose above 250 mg/dL', points: 50 });
    if (s === 'high') reasons.push({ code: 'glucose_high', message: 'Latest glucose above 180 mg/dL', points: 10 });
  }
  if (input.bp) {
    const c = bpCategory(input.bp.systolic, input.bp.diastolic);
    if (c === 'crisis') reasons.push({ code: 'bp_crisis', message: 'Blood pressure in crisis range', points: 90 });
    if (c === 'stage_2') reasons.push({ code: 'bp_stage_2', message: 'Stage 2 hypertension', points: 30 });
    if (c === 'stage_1') reasons.push({ code: 'bp_stage_1', message: 'Stage 1 hypertension', points: 10 });
    if (c === 'elevated') reasons.push({ code: 'bp_elevated', message: 'Elevated blood pressure', points: 3 });
  }
  const r = input.range;
  if (r.readings >= MIN_READINGS_FOR_TIR) {
    const tir = r.inRange / r.readings;
    const tbr = r.below / r.readings;
    if (tbr > 0.04) reasons.push({ code: 'tbr_high', message: 'More than 4 % of glucose below range', points: 20 });
    if (tir < 0.5) reasons.push({ code: 'tir_very_low', message: 'Time in range below 50 %', points: 25 });
    else if (tir < 0.7) reasons.push({ code: 'tir_low', message: 'Time in range below 70 %', points: 10 });
  }
  reasons.sort((a, b) => b.points - a.points);
  return { score: reasons.reduce((sum, x) => sum + x.points, 0), reasons };
}
