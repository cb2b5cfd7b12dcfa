/** Units, numbers and times as the viewer sees them. */

/** mg/dL per mmol/L of glucose, and kg per pound (as the API uses). */
export const MGDL_PER_MMOLL = 18.01559;
export const KG_PER_LB = 0.45359237;

export const TYPE_LABELS = {
  glucose: 'Glucose',
  systolic: 'Systolic',
  diastolic: 'Diastolic',
  weight: 'Weight',
};

const PREFS_KEY = 'patientpulse.units';

/** The viewer's unit choice (a display preference, kept across sessions). */
export function loadUnits() {
  try {
    const saved = JSON.parse(localStorage.getItem(PREFS_KEY) ?? '{}');
    return {
      glucose: saved.glucose === 'mmol/L' ? 'mmol/L' : 'mg/dL',
      weight: saved.weight === 'lb' ? 'lb' : 'kg',
    };
  } catch {
    return { glucose: 'mg/dL', weight: 'kg' };
  }
}

export function saveUnits(units) {
  localStorage.setItem(PREFS_KEY, JSON.stringify(units));
}

/** The unit a type is displayed in. */
export function unitOf(type, units) {
  if (type === 'glucose') return units.glucose;
  if (type === 'weight') return units.weight;
  return 'mmHg';
}

/** Converts a canonical value (mg/dL, mmHg, kg) to the display unit. */
export function toDisplay(type, value, units) {
  if (value === null || value === undefined) return value;
  if (type === 'glucose' && units.glucose === 'mmol/L') return value / MGDL_PER_MMOLL;
  if (type === 'weight' && units.weight === 'lb') return value / KG_PER_LB;
  return value;
}

const DECIMALS = { 'mg/dL': 0, 'mmol/L': 1, mmHg: 0, kg: 1, lb: 1 };
const numberFormats = new Map();

/** Formats a number with the customary precision of its unit (`extra` more digits for detail). */
export function fmtNumber(value, unit, extra = 0) {
  const digits = (DECIMALS[unit] ?? 1) + extra;
  let f = numberFormats.get(digits);
  if (!f) {
    f = new Intl.NumberFormat(undefined, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
    numberFormats.set(digits, f);
  }
  return f.format(value);
}

/** A canonical value formatted in the display unit, with the unit. */
export function fmtValue(type, value, units, extra = 0) {
  const unit = unitOf(type, units);
  return `${fmtNumber(toDisplay(type, value, units), unit, extra)} ${unit}`;
}

/** The viewer's IANA time zone, such as Europe/Berlin. */
export const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

// dateStyle/timeStyle cannot be combined with timeZoneName, hence the explicit fields.
const DATE_TIME = { year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' };
const dateTime = new Intl.DateTimeFormat(undefined, { ...DATE_TIME, timeZoneName: 'short' });
const dateTimeNoZone = new Intl.DateTimeFormat(undefined, DATE_TIME);
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });

const toDate = (d) => (d instanceof Date ? d : new Date(d));

/** "May 24, 2025, 8:00 AM EDT": local time with the zone named. */
export function fmtDateTime(d) {
  return dateTime.format(toDate(d));
}

/** Local date and time without the zone (for dense tables whose header names it). */
export function fmtDateTimeShort(d) {
  return dateTimeNoZone.format(toDate(d));
}

export function fmtDate(d) {
  return dateOnly.format(toDate(d));
}

export function fmtTime(d) {
  return timeOnly.format(toDate(d));
}

/** The zone's short name at a given instant, such as EDT or GMT+2. */
export function zoneAbbreviation(d = new Date()) {
  const part = dateTime.formatToParts(toDate(d)).find((p) => p.type === 'timeZoneName');
  return part?.value ?? '';
}

/** "America/New_York (EDT)" */
export function zoneLabel() {
  const abbr = zoneAbbreviation();
  return abbr && abbr !== timeZone ? `${timeZone} (${abbr})` : timeZone;
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'short' });

/** "3 hr. ago", "yesterday": for recency at a glance (the exact time goes in a title). */
export function fmtAgo(d, now = Date.now()) {
  const s = Math.round((toDate(d).getTime() - now) / 1000);
  const abs = Math.abs(s);
  if (abs < 60) return relative.format(s, 'second');
  if (abs < 3600) return relative.format(Math.round(s / 60), 'minute');
  if (abs < 86_400) return relative.format(Math.round(s / 3600), 'hour');
  if (abs < 86_400 * 45) return relative.format(Math.round(s / 86_400), 'day');
  return fmtDate(d);
}

/** Whole years between a YYYY-MM-DD birth date and today. */
export function ageFrom(dob, now = new Date()) {
  const [y, m, d] = dob.split('-').map(Number);
  let age = now.getFullYear() - y;
  if (now.getMonth() + 1 < m || (now.getMonth() + 1 === m && now.getDate() < d)) age -= 1;
  return age;
}

/** The value of a datetime-local input for an instant, in local time. */
export function toLocalInput(d) {
  const x = toDate(d);
  const pad = (n) => String(n).padStart(2, '0');
  return `${x.getFullYear()}-${pad(x.getMonth() + 1)}-${pad(x.getDate())}T${pad(x.getHours())}:${pad(x.getMinutes())}`;
}

/** Clinical labels for the summary's codes. */
export const GLUCOSE_STATUS = {
  very_low: { label: 'Very low', tone: 'danger' },
  low: { label: 'Low', tone: 'danger' },
  in_range: { label: 'In range', tone: 'ok' },
  high: { label: 'High', tone: 'warn' },
  very_high: { label: 'Very high', tone: 'danger' },
};

export const BP_CATEGORY = {
  normal: { label: 'Normal', tone: 'ok' },
  elevated: { label: 'Elevated', tone: 'warn' },
  stage_1: { label: 'Stage 1', tone: 'warn' },
  stage_2: { label: 'Stage 2', tone: 'danger' },
  crisis: { label: 'Crisis', tone: 'danger' },
  // Diastolic at or above systolic: no category applies; most often swapped fields.
  implausible: { label: 'Implausible (check device)', tone: 'warn' },
};
