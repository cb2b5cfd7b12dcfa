/**
 * Clinical classifications used by the patient summary: glucose ranges (International
 * Consensus on Time in Range, 2019), blood-pressure categories (ACC/AHA 2017) and an
 * attention score that orders a patient panel. The score is a triage aid for sorting,
 * not a validated risk score.
 */

import type { ReadingType } from './readings.js';

/** Glucose target range in mg/dL, inclusive at both ends (as meters display it, whole mg/dL). */
export const GLUCOSE_TARGET_LOW = 70;
export const GLUCOSE_TARGET_HIGH = 180;
/** Level 2 hypoglycaemia and the "very high" threshold, mg/dL. */
export const GLUCOSE_VERY_LOW = 54;
export const GLUCOSE_VERY_HIGH = 250;
/** Length of the time-in-range window, in days. */
export const TIME_IN_RANGE_DAYS = 14;

/**
 * Classification bounds on the stored value: a value is classified as it rounds to whole
 * mg/dL (half up), the resolution meters display, so 10.0 mmol/L (180.16 mg/dL) is in
 * range and 3.0 mmol/L (54.05) is not very low, as the consensus' mmol/L cut-offs say.
 * Written as half-unit comparisons so that TypeScript and SQL agree exactly (SQL round()
 * on float8 rounds half to even; these bounds are exact in binary).
 */
export const GLUCOSE_BOUNDS = {
  /** Very low below this. */
  veryLowBelow: GLUCOSE_VERY_LOW - 0.5,
  /** In range from this (inclusive)... */
  inRangeFrom: GLUCOSE_TARGET_LOW - 0.5,
  /** ...up to this (exclusive); above range from here. */
  aboveFrom: GLUCOSE_TARGET_HIGH + 0.5,
  /** Very high from this (inclusive). */
  veryHighFrom: GLUCOSE_VERY_HIGH + 0.5,
} as const;

export const GLUCOSE_STATUSES = ['very_low', 'low', 'in_range', 'high', 'very_high'] as const;
export type GlucoseStatus = (typeof GLUCOSE_STATUSES)[number];

export const BP_CATEGORIES = ['normal', 'elevated', 'stage_1', 'stage_2', 'crisis'] as const;
export type BpCategory = (typeof BP_CATEGORIES)[number];

/** What the summary shows instead of a category for a pair that fails {@link bpPlausible}. */
export const BP_IMPLAUSIBLE = 'implausible';

/** Classifies one glucose value in mg/dL, on its value rounded to whole mg/dL (see {@link GLUCOSE_BOUNDS}). */
export function glucoseStatus(mgdl: number): GlucoseStatus {
  if (mgdl < GLUCOSE_BOUNDS.veryLowBelow) return 'very_low';
  if (mgdl < GLUCOSE_BOUNDS.inRangeFrom) return 'low';
  if (mgdl < GLUCOSE_BOUNDS.aboveFrom) return 'in_range';
  if (mgdl < GLUCOSE_BOUNDS.veryHighFrom) return 'high';
  return 'very_high';
}

/**
 * False for a pair no artery produces: diastolic at or above systolic, most often the two
 * fields swapped by a person or a device.
 */
export function bpPlausible(systolic: number, diastolic: number): boolean {
  return systolic > diastolic;
}

/** The other half of a blood-pressure pair, for the two reading types that have one. */
export const BP_PARTNER: Readonly<Partial<Record<ReadingType, ReadingType>>> = {
  systolic: 'diastolic',
  diastolic: 'systolic',
};

/**
 * ACC/AHA 2017 category of one systolic/diastolic pair (mmHg), or null for an implausible
 * pair (see {@link bpPlausible}), which has none. When the two values fall into different
 * categories, the higher one applies; "crisis" is above 180 and/or 120.
 */
export function bpCategory(systolic: number, diastolic: number): BpCategory | null {
  if (!bpPlausible(systolic, diastolic)) return null;
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
  latestGlucose: { value: number; timestamp: Date } | null;
  bp: { systolic: number; diastolic: number; timestamp: Date } | null;
  range: RangeCounts;
  /** Start of the time-in-range window: a latest reading older than this adds no points. */
  since: Date;
}

/**
 * Scores how urgently a patient needs a look: the sum of the points of each finding,
 * reasons listed most serious first. Thresholds follow the consensus targets (time in
 * range above 70 %, time below range under 4 %). The latest glucose and blood pressure
 * count only when taken within the time-in-range window: a low from months ago says
 * nothing about today.
 */
export function attention(input: AttentionInput): { score: number; reasons: AttentionReason[] } {
  const reasons: AttentionReason[] = [];
  const since = input.since.getTime();
  const g = input.latestGlucose;
  if (g !== null && g.timestamp.getTime() >= since) {
    const s = glucoseStatus(g.value);
    if (s === 'very_low')
      reasons.push({ code: 'glucose_very_low', message: 'Latest glucose below 54 mg/dL', points: 100 });
    if (s === 'low') reasons.push({ code: 'glucose_low', message: 'Latest glucose below 70 mg/dL', points: 60 });
    if (s === 'very_high')
      reasons.push({ code: 'glucose_very_high', message: 'Latest glucose above 250 mg/dL', points: 50 });
    if (s === 'high') reasons.push({ code: 'glucose_high', message: 'Latest glucose above 180 mg/dL', points: 10 });
  }
  const bp = input.bp;
  if (bp !== null && bp.timestamp.getTime() >= since) {
    const c = bpCategory(bp.systolic, bp.diastolic);
    if (c === null) {
      // A data-quality finding, not a clinical one: worth a look, never above a real finding.
      reasons.push({
        code: 'bp_implausible',
        message: 'Blood pressure pair with diastolic at or above systolic; check the device',
        points: 5,
      });
    }
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
