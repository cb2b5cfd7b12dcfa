/**
 * Reading types, units and physiological limits: the single source of truth used by the
 * API, the bulk endpoint and the file loader.
 */

export const READING_TYPES = ['glucose', 'systolic', 'diastolic', 'weight'] as const;
export type ReadingType = (typeof READING_TYPES)[number];

/** mg/dL per mmol/L of glucose (molar mass 180.156 g/mol). */
export const GLUCOSE_MGDL_PER_MMOLL = 18.01559;
/** kg per pound (exact, by definition). */
export const KG_PER_LB = 0.45359237;

interface TypeSpec {
  canonicalUnit: string;
  /** Accepted unit spellings (lower case) and the factor to the canonical unit. */
  units: Record<string, number>;
  /** Physiologically possible range in the canonical unit, inclusive. */
  min: number;
  max: number;
}

export const TYPE_SPECS: Record<ReadingType, TypeSpec> = {
  glucose: { canonicalUnit: 'mg/dL', units: { 'mg/dl': 1, 'mmol/l': GLUCOSE_MGDL_PER_MMOLL }, min: 10, max: 1500 },
  systolic: { canonicalUnit: 'mmHg', units: { mmhg: 1 }, min: 40, max: 300 },
  diastolic: { canonicalUnit: 'mmHg', units: { mmhg: 1 }, min: 20, max: 200 },
  weight: { canonicalUnit: 'kg', units: { kg: 1, lb: KG_PER_LB, lbs: KG_PER_LB }, min: 0.5, max: 700 },
};

export function isReadingType(v: string): v is ReadingType {
  return (READING_TYPES as readonly string[]).includes(v);
}

/** A validation failure for one value, with a message fit for an API client. */
export interface ValueProblem {
  reason: 'unknown_unit' | 'not_finite' | 'out_of_range';
  message: string;
}

/**
 * Converts a value in `unit` (default: canonical) to the canonical unit and checks its
 * physiological range. Returns the canonical value or a problem.
 */
export function normalizeValue(
  type: ReadingType,
  value: number,
  unit?: string,
): { value: number; unit: string } | ValueProblem {
  const spec = TYPE_SPECS[type];
  let factor = 1;
  if (unit !== undefined) {
    const f = spec.units[unit.trim().toLowerCase()];
    if (f === undefined) {
      return {
        reason: 'unknown_unit',
        message: `this unit is not accepted for ${type}; use ${Object.keys(spec.units).join(' or ')}`,
      };
    }
    factor = f;
  }
  if (!Number.isFinite(value)) return { reason: 'not_finite', message: 'value must be a finite number' };
  const canonical = value * factor;
  if (canonical < spec.min || canonical > spec.max) {
    return {
      reason: 'out_of_range',
      message: `${type} must be between ${spec.min} and ${spec.max} ${spec.canonicalUnit}`,
    };
  }
  return { value: canonical, unit: spec.canonicalUnit };
}

export function isValueProblem(v: { value: number; unit: string } | ValueProblem): v is ValueProblem {
  return 'reason' in v;
}
