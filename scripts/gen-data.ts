/**
 * gen-data: deterministic, streaming generator of synthetic PatientPulse data.
 *
 * Writes into --out DIR:
 *   patients.json        JSON array of {name, dob, gender, address, email, phone}
 *   readings.csv         patient_email,timestamp,glucose_mg_dL,bp_systolic,bp_diastolic,weight_kg
 *                        rows in time order across patients; timestamps ISO 8601 without
 *                        offset (UTC); empty cell = no reading
 *   dirty-manifest.csv   only with --dirty: `line,defect` for every defective row
 *                        (line = 1-based physical line of readings.csv, header = line 1)
 *
 * Usage:
 *   npx tsx scripts/gen-data.ts --out DIR [--patients N] [--rows N] [--days N] [--seed N]
 *                               [--end YYYY-MM-DDTHH:MM:SS] [--dirty F]
 *   npx tsx scripts/gen-data.ts --out data                  # the committed sample
 *   npx tsx scripts/gen-data.ts --out /tmp/big --rows 10000000
 *   npx tsx scripts/gen-data.ts --out /tmp/dirty --dirty 0.05
 *
 * Same options => byte-identical files. The CSV is streamed with backpressure, so memory
 * stays flat whatever --rows is. Importable: generatePatients(), patientProfiles(),
 * readingRows(), writeReadingsCsv(), writePatientsJson(), generateDataset().
 */
import { once } from 'node:events';
import { createWriteStream, mkdirSync, realpathSync, rmSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

// ---------------------------------------------------------------------------------------
// Types and defaults
// ---------------------------------------------------------------------------------------

export interface Patient {
  name: string;
  dob: string;
  gender: string;
  address: string | null;
  email: string;
  phone: string | null;
}

export type GlucoseProfile = 'well_controlled' | 'diabetic_hyperglycaemia' | 'hypoglycaemia_prone';
export type BpProfile = 'normal_bp' | 'hypertensive_stage1' | 'hypertensive_stage2';

/** Per-patient simulation parameters (not written to patients.json). */
export interface PatientProfile {
  email: string;
  glucose: GlucoseProfile;
  bp: BpProfile;
  /** Fasting glucose baseline, mg/dL. */
  glucoseBase: number;
  /** Peak post-meal rise, mg/dL. */
  mealRise: number;
  /** Depth of the night-time dip, mg/dL. */
  nightDip: number;
  /** Early-morning rise (dawn phenomenon), mg/dL. */
  dawnRise: number;
  glucoseNoise: number;
  /** Probability that a glucose reading is a hypoglycaemic event (< 70 mg/dL). */
  hypoRate: number;
  systolicBase: number;
  diastolicBase: number;
  /** Weight at the start of the span, kg. */
  weightStart: number;
  /** Slow drift, kg per day. */
  weightDriftPerDay: number;
  weightPhase: number;
  /** Seconds this patient's readings precede the slot time (0 for patient 0). */
  offsetSec: number;
}

export const DEFECT_KINDS = [
  'bad_email',
  'unknown_patient',
  'bad_timestamp',
  'non_numeric',
  'impossible_value',
  'duplicate',
  'wrong_column_count',
] as const;
export type DefectKind = (typeof DEFECT_KINDS)[number];

export const READINGS_HEADER = 'patient_email,timestamp,glucose_mg_dL,bp_systolic,bp_diastolic,weight_kg';
export const MANIFEST_HEADER = 'line,defect';

export const DEFAULTS = {
  patients: 20,
  days: 21,
  readingsPerDay: 4,
  seed: 42,
  end: '2026-01-31T20:00:00',
  dirty: 0,
} as const;

export interface GenOptions {
  /** Number of patients (>= 1). Default 20. */
  patients?: number;
  /** Total data rows in readings.csv (excluding header). Default patients * 4 * days. */
  rows?: number;
  /** Time span in days covered by the readings. Default 21. */
  days?: number;
  /** PRNG seed (uint32). Default 42. */
  seed?: number;
  /** Newest timestamp, UTC, `YYYY-MM-DDTHH:MM:SS`. Default 2026-01-31T20:00:00. */
  end?: string;
  /** Fraction 0..1 of data rows made defective. Default 0. */
  dirty?: number;
}

interface Resolved {
  patients: number;
  rows: number;
  days: number;
  seed: number;
  endSec: number;
  dirty: number;
}

// ---------------------------------------------------------------------------------------
// PRNG
// ---------------------------------------------------------------------------------------

/** mulberry32: tiny, fast, good-enough 32-bit PRNG. Returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Derives an independent sub-seed (murmur3 finaliser over the inputs). */
function deriveSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

const STREAM_PATIENT = 1;
const STREAM_VALUES = 2;
const STREAM_DIRTY_PICK = 3;
const STREAM_DIRTY_KIND = 4;

type Rng = () => number;

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)] as T;
}
function uniform(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng();
}
function intBetween(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}
/** Standard normal via Box-Muller. */
function gauss(rng: Rng): number {
  const u = 1 - rng(); // (0, 1]
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

// ---------------------------------------------------------------------------------------
// Patients
// ---------------------------------------------------------------------------------------

// biome-ignore format: compact word list
const FEMALE_FIRST = [
  'Maria', 'Emma', 'Olivia', 'Aisha', 'Mei', 'Priya', 'Fatima', 'Sofia', 'Grace', 'Hannah', 'Chloé', 'Zoë',
  'Siobhán', 'Renée', 'Ana', 'Yuki', 'Ngozi', 'Ingrid', 'Lucía', 'Margaret',
] as const;
// biome-ignore format: compact word list
const MALE_FIRST = [
  'James', 'Mohammed', 'Wei', 'Liam', 'Noah', 'Carlos', 'David', 'Kwame', 'Hiroshi', 'Arjun', 'José',
  'Björn', 'François', 'Łukasz', 'Seán', 'Thomas', 'Robert', 'Ahmed', 'Dmitri', 'Samuel',
] as const;
const OTHER_FIRST = ['Alex', 'Jordan', 'Sam', 'Robin', 'Charlie', 'Avery', 'Noor', 'Kai', 'Noé', 'Andréa'] as const;
// biome-ignore format: compact word list
const LAST = [
  'Smith', 'Johnson', 'García', 'Nguyen', 'Patel', 'Kim', 'Okafor', 'Müller', 'Rossi', 'Kowalski', "O'Brien",
  "D'Angelo", "O'Neill", 'Núñez', 'Søndergaard', 'Čapek', 'Nakamura', 'Haddad', 'Brown', 'Williams',
  'Martin', 'Andersson', 'Ivanova', 'Mensah', 'Lefèvre', 'Chen', 'Singh', 'Taylor', 'Hernández', 'Wilson',
  'Fitzgerald', 'Dubois', 'Moreau', 'Schmidt',
] as const;
const APOSTROPHE_LAST = ["O'Brien", "D'Angelo", "O'Neill"] as const;
const NON_ASCII_FIRST = {
  female: ['Zoë', 'Siobhán', 'Chloé', 'Lucía'],
  male: ['José', 'Björn', 'Łukasz', 'François'],
  other: ['Noé', 'Andréa'],
} as const;

// biome-ignore format: compact word list
const STREETS = [
  'Maple Street', 'Oak Avenue', 'Elm Road', 'High Street', 'Station Road', 'Cedar Lane', 'Park Avenue',
  'Church Street', 'Mill Lane', 'Riverside Drive', 'Hillcrest Road', 'King Street',
] as const;
// biome-ignore format: compact word list
const CITIES = [
  'Springfield, IL 62704', 'Portland, OR 97205', 'Austin, TX 78701', 'Madison, WI 53703', 'Boston, MA 02108',
  'Denver, CO 80202', 'Leeds LS1 4AP, UK', 'Bristol BS1 5TR, UK', 'Dublin D02 X285, Ireland',
  'Toronto, ON M5V 2T6, Canada',
] as const;

/** ASCII, lower-case e-mail token for a name part: "Núñez" -> "nunez", "O'Brien" -> "obrien". */
function emailToken(s: string): string {
  return s
    .replace(/ø/gi, 'o')
    .replace(/ł/gi, 'l')
    .replace(/ß/g, 'ss')
    .replace(/æ/gi, 'ae')
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '');
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function patientRng(seed: number, index: number): Rng {
  return mulberry32(deriveSeed(seed, STREAM_PATIENT, index));
}

/**
 * Patient `index` (0-based). Each patient has its own PRNG stream, so the first N patients
 * are the same whatever --patients is.
 */
function makePatient(seed: number, index: number): Patient {
  const rng = patientRng(seed, index);
  const g = rng();
  const canonical = g < 0.47 ? 'female' : g < 0.94 ? 'male' : 'other';
  let first: string =
    canonical === 'female'
      ? pick(rng, FEMALE_FIRST)
      : canonical === 'male'
        ? pick(rng, MALE_FIRST)
        : pick(rng, OTHER_FIRST);
  let last: string = pick(rng, LAST);
  // Guarantee that any cohort of 3+ contains an apostrophe and a non-ASCII name.
  if (index === 1) last = pick(rng, APOSTROPHE_LAST);
  else rng();
  if (index === 2) first = pick(rng, NON_ASCII_FIRST[canonical]);
  else rng();
  const name = `${first} ${last}`;

  // Real exports are inconsistent about case.
  const c = rng();
  const gender =
    c < 0.06 ? canonical.toUpperCase() : c < 0.12 ? canonical.charAt(0).toUpperCase() + canonical.slice(1) : canonical;

  const year = intBetween(rng, 1938, 2004);
  const month = intBetween(rng, 1, 12);
  const dim = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const day = intBetween(rng, 1, dim);
  const dob = `${year}-${pad2(month)}-${pad2(day)}`;

  const address = rng() < 0.15 ? null : `${intBetween(rng, 1, 2400)} ${pick(rng, STREETS)}, ${pick(rng, CITIES)}`;

  const email = `${emailToken(first)}.${emailToken(last)}.${index + 1}@example.org`;

  const p = rng();
  const n = intBetween(rng, 100, 199); // 555-0100..0199 are reserved for fiction
  const area = intBetween(rng, 201, 989);
  const phone =
    p < 0.1
      ? null
      : p < 0.45
        ? `+1-${area}-555-0${n}`
        : p < 0.75
          ? `(${area}) 555-0${n}`
          : p < 0.9
            ? `${area}.555.0${n}`
            : `+44 20 7946 0${intBetween(rng, 100, 999)}`;

  return { name, dob, gender, address, email, phone };
}

export function generatePatients(opts: { patients?: number; seed?: number } = {}): Patient[] {
  const n = opts.patients ?? DEFAULTS.patients;
  const seed = (opts.seed ?? DEFAULTS.seed) >>> 0;
  const out: Patient[] = [];
  for (let i = 0; i < n; i++) out.push(makePatient(seed, i));
  return out;
}

const GLUCOSE_PROFILES: readonly GlucoseProfile[] = [
  'well_controlled',
  'diabetic_hyperglycaemia',
  'hypoglycaemia_prone',
];
const BP_PROFILES: readonly BpProfile[] = ['normal_bp', 'hypertensive_stage1', 'hypertensive_stage2'];

/**
 * Simulation profile for patient `index`. Profiles cycle through all 9 combinations of
 * glucose x blood-pressure profile, so any cohort of 9+ covers them all.
 */
function makeProfile(seed: number, index: number, email: string, stepSec: number): PatientProfile {
  const rng = mulberry32(deriveSeed(seed, STREAM_PATIENT, index, 0x70f11e));
  const combo = index % 9;
  const glucose = GLUCOSE_PROFILES[combo % 3] as GlucoseProfile;
  const bp = BP_PROFILES[Math.floor(combo / 3)] as BpProfile;

  let glucoseBase: number, mealRise: number, nightDip: number, dawnRise: number, glucoseNoise: number, hypoRate: number;
  if (glucose === 'well_controlled') {
    glucoseBase = uniform(rng, 85, 100);
    mealRise = uniform(rng, 25, 45);
    nightDip = uniform(rng, 5, 10);
    dawnRise = uniform(rng, 0, 5);
    glucoseNoise = uniform(rng, 5, 8);
    hypoRate = 0;
  } else if (glucose === 'diabetic_hyperglycaemia') {
    glucoseBase = uniform(rng, 150, 190);
    mealRise = uniform(rng, 80, 130);
    nightDip = uniform(rng, 5, 15);
    dawnRise = uniform(rng, 15, 30);
    glucoseNoise = uniform(rng, 15, 25);
    hypoRate = 0;
  } else {
    glucoseBase = uniform(rng, 105, 130);
    mealRise = uniform(rng, 60, 90);
    nightDip = uniform(rng, 25, 40);
    dawnRise = uniform(rng, 5, 15);
    glucoseNoise = uniform(rng, 18, 28);
    hypoRate = uniform(rng, 0.05, 0.09);
  }

  let systolicBase: number, diastolicBase: number;
  if (bp === 'normal_bp') {
    systolicBase = uniform(rng, 106, 117);
    diastolicBase = uniform(rng, 66, 76);
  } else if (bp === 'hypertensive_stage1') {
    systolicBase = uniform(rng, 130, 137);
    diastolicBase = uniform(rng, 80, 87);
  } else {
    systolicBase = uniform(rng, 145, 162);
    diastolicBase = uniform(rng, 92, 102);
  }

  const weightStart = uniform(rng, 52, 118);
  const weightDriftPerDay = uniform(rng, -0.04, 0.04); // about +-1.2 kg a month
  const weightPhase = uniform(rng, 0, 2 * Math.PI);

  // Patients read a little before the slot time; patient 0 exactly at it, so the newest
  // timestamp equals --end. Offsets stay below half a step so time order is preserved.
  let offsetSec = 0;
  if (index > 0 && stepSec >= 2) {
    const maxOff = Math.min(Math.floor(stepSec / 2), 45 * 60);
    offsetSec = Math.floor(rng() * (maxOff + 1));
    if (stepSec >= 120) offsetSec = Math.floor(offsetSec / 60) * 60;
  }

  return {
    email,
    glucose,
    bp,
    glucoseBase,
    mealRise,
    nightDip,
    dawnRise,
    glucoseNoise,
    hypoRate,
    systolicBase,
    diastolicBase,
    weightStart,
    weightDriftPerDay,
    weightPhase,
    offsetSec,
  };
}

// ---------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------

export class UsageError extends Error {}

const END_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?Z?$/;

/** Parses `YYYY-MM-DDTHH:MM[:SS][Z]` as UTC into epoch seconds; throws UsageError. */
export function parseEnd(text: string): number {
  const m = END_RE.exec(text);
  if (!m) throw new UsageError(`--end must look like 2026-01-31T20:00:00 (UTC), got "${text}"`);
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const h = Number(m[4]);
  const mi = Number(m[5]);
  const s = Number(m[6] ?? '0');
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  if (
    back.getUTCFullYear() !== y ||
    back.getUTCMonth() !== mo - 1 ||
    back.getUTCDate() !== d ||
    back.getUTCHours() !== h ||
    back.getUTCMinutes() !== mi ||
    back.getUTCSeconds() !== s
  ) {
    throw new UsageError(`--end is not a valid date-time: "${text}"`);
  }
  return ms / 1000;
}

function resolve(opts: GenOptions): Resolved {
  const patients = opts.patients ?? DEFAULTS.patients;
  const days = opts.days ?? DEFAULTS.days;
  const rows = opts.rows ?? patients * DEFAULTS.readingsPerDay * Math.round(days);
  const seed = (opts.seed ?? DEFAULTS.seed) >>> 0;
  const endSec = parseEnd(opts.end ?? DEFAULTS.end);
  const dirty = opts.dirty ?? DEFAULTS.dirty;
  if (!Number.isInteger(patients) || patients < 1) throw new UsageError('--patients must be an integer >= 1');
  if (!Number.isInteger(rows) || rows < 0) throw new UsageError('--rows must be an integer >= 0');
  if (!Number.isInteger(days) || days < 1) throw new UsageError('--days must be an integer >= 1');
  if (!(dirty >= 0 && dirty <= 1)) throw new UsageError('--dirty must be a number between 0 and 1');
  if (endSec - days * 86400 < Date.UTC(1900, 0, 1) / 1000 || endSec >= Date.UTC(2200, 0, 1) / 1000) {
    throw new UsageError('--end and --days must keep all timestamps within 1900..2199');
  }
  const perPatient = Math.ceil(rows / patients);
  if (perPatient > days * 86400) {
    throw new UsageError(
      `--rows ${rows} needs more than one reading per second per patient; raise --days or --patients`,
    );
  }
  return { patients, rows, days, seed, endSec, dirty };
}

// ---------------------------------------------------------------------------------------
// Readings
// ---------------------------------------------------------------------------------------

/** One data line of readings.csv. */
export interface ReadingRow {
  /** 1-based physical line number in readings.csv (the header is line 1). */
  line: number;
  /** The CSV line without the trailing newline. */
  text: string;
  /** Set when the row was made defective on purpose. */
  defect?: DefectKind;
}

/** Clean cell values before formatting (null = empty cell). */
interface Cells {
  email: string;
  ts: string;
  glucose: number | null;
  systolic: number | null;
  diastolic: number | null;
  weight: number | null;
}

const MEALS_H = [7.5, 12.5, 18.5];

/** Gamma-shaped post-prandial response, 0 before the meal, peak 1 one hour after. */
function mealResponse(dtH: number): number {
  return dtH <= 0 ? 0 : dtH * Math.exp(1 - dtH);
}

function glucoseAt(p: PatientProfile, hour: number, rng: Rng): number {
  if (p.hypoRate > 0 && rng() < p.hypoRate) return intBetween(rng, 42, 68);
  let g = p.glucoseBase;
  for (const meal of MEALS_H) {
    let dt = hour - meal;
    if (dt < 0) dt += 24;
    g += p.mealRise * mealResponse(dt);
  }
  const dn = hour - 3; // night trough around 03:00
  g -= p.nightDip * Math.exp(-(dn * dn) / (2 * 1.5 * 1.5));
  const dd = hour - 6.5; // dawn phenomenon
  g += p.dawnRise * Math.exp(-(dd * dd) / (2 * 1.2 * 1.2));
  g += p.glucoseNoise * gauss(rng);
  const lo = p.hypoRate > 0 ? 60 : 70;
  return Math.round(Math.min(400, Math.max(lo, g)));
}

function bpAt(p: PatientProfile, hour: number, rng: Rng): [number, number] {
  // Morning surge 06-10h, nocturnal dip.
  const surge = hour >= 6 && hour < 10 ? 1 : 0;
  const night = hour < 5 ? 1 : 0;
  let sys = p.systolicBase + 6 * surge - 8 * night + 4 * gauss(rng);
  let dia = p.diastolicBase + 3 * surge - 5 * night + 3 * gauss(rng);
  sys = Math.round(Math.min(220, Math.max(85, sys)));
  dia = Math.round(Math.min(130, Math.max(45, dia)));
  if (dia > sys - 20) dia = sys - 20;
  return [sys, dia];
}

function weightAt(p: PatientProfile, daysFromStart: number, rng: Rng): number {
  const w =
    p.weightStart +
    p.weightDriftPerDay * daysFromStart +
    0.3 * Math.sin((2 * Math.PI * daysFromStart) / 7 + p.weightPhase) +
    0.15 * gauss(rng);
  return Math.round(w * 10) / 10;
}

const TWO_DIGITS = Array.from({ length: 60 }, (_, i) => pad2(i));
let tsDay = Number.NaN;
let tsPrefix = '';

/** `YYYY-MM-DDTHH:MM:SS` (UTC) for whole epoch seconds; the date part is cached per day. */
function formatTs(epochSec: number): string {
  const day = Math.floor(epochSec / 86400);
  if (day !== tsDay) {
    tsDay = day;
    tsPrefix = new Date(day * 86400000).toISOString().slice(0, 11);
  }
  const sod = epochSec - day * 86400;
  const h = Math.floor(sod / 3600);
  const m = Math.floor((sod % 3600) / 60);
  return `${tsPrefix}${TWO_DIGITS[h]}:${TWO_DIGITS[m]}:${TWO_DIGITS[sod % 60]}`;
}

function cellsToLine(c: Cells): string {
  return `${c.email},${c.ts},${c.glucose ?? ''},${c.systolic ?? ''},${c.diastolic ?? ''},${c.weight === null ? '' : c.weight.toFixed(1)}`;
}

// biome-ignore format: compact word list
const BAD_TIMESTAMPS = [
  '2025-13-45T99:00:00', 'yesterday', '', '2025-02-30T10:00:00', '2026-01-31T25:61:00', '31/01/2026 08:00',
  'not-a-date', '0000-00-00T00:00:00',
] as const;
const NON_NUMERIC = {
  glucose: ['high', 'low', 'HI', 'LO', '98mg', '12O', 'NaN', '#VALUE!', 'twelve'],
  systolic: ['120/80', 'high', '??', 'abc'],
  diastolic: ['low', 'eighty', '8o', 'x'],
  weight: ['72.5kg', 'heavy', 'seventy', '7 2'],
} as const;
/** Far outside any physiological range (see src/domain/readings.ts TYPE_SPECS). */
const IMPOSSIBLE = {
  glucose: [-5, 0, 99999, 5000, -120],
  systolic: [0, -120, 999, 450],
  diastolic: [0, -80, 600, 350],
  weight: [0, -72.5, 1500, 9999.9],
} as const;
type ValueColumn = keyof typeof IMPOSSIBLE;
const VALUE_COLUMNS: readonly ValueColumn[] = ['glucose', 'systolic', 'diastolic', 'weight'];

function pickValueColumn(rng: Rng): ValueColumn {
  return rng() < 0.6 ? 'glucose' : (VALUE_COLUMNS[1 + Math.floor(rng() * 3)] as ValueColumn);
}

/** Fills a missing partner so a BP defect does not also create a lone-BP row. */
function ensureBp(c: Cells, p: PatientProfile): void {
  if (c.systolic === null) c.systolic = Math.round(p.systolicBase);
  if (c.diastolic === null) c.diastolic = Math.round(p.diastolicBase);
}

function fmtCell(col: ValueColumn, v: number): string {
  return col === 'weight' ? v.toFixed(1) : String(v);
}

function applyDefect(kind: DefectKind, c: Cells, p: PatientProfile, rng: Rng, counter: number): string {
  switch (kind) {
    case 'bad_email': {
      const at = c.email.indexOf('@');
      const local = c.email.slice(0, at);
      const domain = c.email.slice(at + 1);
      const variants = [
        `${local}${domain}`, // no @
        `${local}@@${domain}`,
        `${local}@`,
        `@${domain}`,
        `${local.replace('.', ' ')}@${domain}`,
        '',
      ];
      return cellsToLine({ ...c, email: pick(rng, variants) });
    }
    case 'unknown_patient':
      return cellsToLine({
        ...c,
        email: `${rng() < 0.5 ? 'no.such.patient' : 'former.patient'}.${counter}@example.org`,
      });
    case 'bad_timestamp':
      return cellsToLine({ ...c, ts: pick(rng, BAD_TIMESTAMPS) });
    case 'non_numeric':
    case 'impossible_value': {
      const col = pickValueColumn(rng);
      if (col === 'systolic' || col === 'diastolic') ensureBp(c, p);
      const cells: Record<ValueColumn, string> = {
        glucose: c.glucose === null ? '' : String(c.glucose),
        systolic: c.systolic === null ? '' : String(c.systolic),
        diastolic: c.diastolic === null ? '' : String(c.diastolic),
        weight: c.weight === null ? '' : c.weight.toFixed(1),
      };
      cells[col] = kind === 'non_numeric' ? pick(rng, NON_NUMERIC[col]) : fmtCell(col, pick(rng, IMPOSSIBLE[col]));
      return `${c.email},${c.ts},${cells.glucose},${cells.systolic},${cells.diastolic},${cells.weight}`;
    }
    case 'wrong_column_count': {
      const line = cellsToLine(c);
      const v = rng();
      if (v < 0.35) return line.slice(0, line.lastIndexOf(',')); // last column missing
      if (v < 0.5) {
        const parts = line.split(',');
        parts.splice(2, 1); // glucose column missing
        return parts.join(',');
      }
      if (v < 0.8) return `${line},${pick(rng, ['extra', '1', 'mg/dL'])}`;
      return `${line},`;
    }
    case 'duplicate':
      throw new Error('duplicate is handled by the caller');
  }
}

/** Number of readings per patient, step between them (s) and the span start (epoch s). */
function timeline(r: Resolved): { perPatient: number; stepSec: number; startSec: number } {
  const perPatient = Math.max(1, Math.ceil(r.rows / r.patients));
  const stepSec = (r.days * 86400) / perPatient;
  return { perPatient, stepSec, startSec: r.endSec - r.days * 86400 };
}

/** Simulation profiles of the cohort for the given options (for tests and benchmarks). */
export function patientProfiles(opts: GenOptions = {}): PatientProfile[] {
  const r = resolve(opts);
  const { stepSec } = timeline(r);
  const patients = generatePatients({ patients: r.patients, seed: r.seed });
  return patients.map((p, i) => makeProfile(r.seed, i, p.email, stepSec));
}

/**
 * All data rows of readings.csv in order, lazily. Clean rows do not depend on --dirty:
 * a dirty file differs from the clean one with the same seed only at the defective lines.
 */
export function* readingRows(opts: GenOptions = {}): Generator<ReadingRow> {
  const r = resolve(opts);
  if (r.rows === 0) return;
  const { perPatient, stepSec, startSec } = timeline(r);
  const profiles = patientProfiles(opts);
  // Within one slot, earlier (larger offset) first; ties by patient index.
  const order = profiles
    .map((p, i) => ({ p, i }))
    .sort((a, b) => b.p.offsetSec - a.p.offsetSec || a.i - b.i)
    .map((x) => x.p);

  const valueRng = mulberry32(deriveSeed(r.seed, STREAM_VALUES));
  const pickRng = mulberry32(deriveSeed(r.seed, STREAM_DIRTY_PICK));
  const kindRng = mulberry32(deriveSeed(r.seed, STREAM_DIRTY_KIND));

  let defectsLeft = Math.round(r.dirty * r.rows);
  let rowsLeft = r.rows;
  let skip = perPatient * r.patients - r.rows; // the oldest slot may be partial
  let line = 1;
  let prevText = '';
  let prevDefective = true; // no previous row for the first line
  let unknownCounter = 0;

  for (let j = perPatient - 1; j >= 0; j--) {
    const slotSec = r.endSec - Math.round(j * stepSec);
    for (const p of order) {
      if (skip > 0) {
        skip--;
        continue;
      }
      const t = slotSec - p.offsetSec;
      const hour = (((t % 86400) + 86400) % 86400) / 3600;
      // Clean values (always drawn, so the value stream is independent of --dirty).
      const hasGlucose = valueRng() < 0.85;
      const hasBp = valueRng() < (hour >= 6 && hour < 10 ? 0.8 : hour >= 18 ? 0.7 : 0.45);
      const hasWeight = valueRng() < (hour >= 5 && hour < 10 ? 0.6 : 0.12);
      const g = glucoseAt(p, hour, valueRng);
      const [sys, dia] = bpAt(p, hour, valueRng);
      const w = weightAt(p, (t - startSec) / 86400, valueRng);
      const cells: Cells = {
        email: p.email,
        ts: formatTs(t),
        glucose: hasGlucose || (!hasBp && !hasWeight) ? g : null,
        systolic: hasBp ? sys : null,
        diastolic: hasBp ? dia : null,
        weight: hasWeight ? w : null,
      };

      line++;
      // Selection sampling: exactly round(dirty * rows) defective rows, uniformly spread.
      const defective = defectsLeft > 0 && pickRng() * rowsLeft < defectsLeft;
      rowsLeft--;
      let row: ReadingRow;
      if (!defective) {
        row = { line, text: cellsToLine(cells) };
      } else {
        defectsLeft--;
        // A duplicate repeats the previous row, which must itself be clean (and exist).
        const kinds = prevDefective ? DEFECT_KINDS.filter((k) => k !== 'duplicate') : DEFECT_KINDS;
        const kind = pick(kindRng, kinds);
        const text = kind === 'duplicate' ? prevText : applyDefect(kind, cells, p, kindRng, ++unknownCounter);
        row = { line, text, defect: kind };
      }
      prevText = row.text;
      prevDefective = defective;
      yield row;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Writers
// ---------------------------------------------------------------------------------------

const CHUNK = 64 * 1024;

/**
 * Buffered writer honouring backpressure: text is encoded straight into a 64 KiB Buffer
 * (so no line strings outlive the young generation) and each full chunk is written with
 * `await once(stream, 'drain')` whenever the stream asks us to wait.
 */
class ChunkWriter {
  private buf = Buffer.allocUnsafe(CHUNK);
  private pos = 0;
  constructor(private readonly stream: WriteStream) {}
  /** Returns a promise only when the caller has to wait (chunk full); await it then. */
  write(s: string): Promise<void> | undefined {
    // 3 bytes per UTF-16 unit is the UTF-8 worst case.
    if (this.pos + s.length * 3 > CHUNK) return this.flushThenWrite(s);
    this.pos += this.buf.write(s, this.pos, 'utf8');
    return undefined;
  }
  private async flushThenWrite(s: string): Promise<void> {
    await this.flush();
    if (s.length * 3 > CHUNK) {
      if (!this.stream.write(s, 'utf8')) await once(this.stream, 'drain');
    } else {
      this.pos += this.buf.write(s, this.pos, 'utf8');
    }
  }
  async flush(): Promise<void> {
    if (this.pos === 0) return;
    const chunk = this.buf.subarray(0, this.pos);
    // The stream keeps `chunk` until it is on disk, so start a fresh buffer.
    this.buf = Buffer.allocUnsafe(CHUNK);
    this.pos = 0;
    if (!this.stream.write(chunk)) await once(this.stream, 'drain');
  }
  async close(): Promise<void> {
    await this.flush();
    const done = once(this.stream, 'finish');
    this.stream.end();
    await done;
  }
}

export interface ReadingsSummary {
  rows: number;
  defective: number;
  /** Defect counts by kind. */
  defects: Record<DefectKind, number>;
  first: string | null;
  last: string | null;
  bytes: number;
}

/**
 * Streams readings.csv to `file` and, when `manifestFile` is given, the dirty manifest.
 */
export async function writeReadingsCsv(
  opts: GenOptions & { file: string; manifestFile?: string },
): Promise<ReadingsSummary> {
  const csvStream = createWriteStream(opts.file, { encoding: 'utf8' });
  const csv = new ChunkWriter(csvStream);
  const manStream =
    opts.manifestFile === undefined ? undefined : createWriteStream(opts.manifestFile, { encoding: 'utf8' });
  const man = manStream && new ChunkWriter(manStream);
  const defects = Object.fromEntries(DEFECT_KINDS.map((k) => [k, 0])) as Record<DefectKind, number>;
  let rows = 0;
  let defective = 0;
  let firstClean: string | null = null;
  let lastClean: string | null = null;
  try {
    await csv.write(`${READINGS_HEADER}\n`);
    if (man) await man.write(`${MANIFEST_HEADER}\n`);
    for (const row of readingRows(opts)) {
      const pending = csv.write(`${row.text}\n`);
      if (pending) await pending;
      rows++;
      if (row.defect !== undefined) {
        defective++;
        defects[row.defect]++;
        if (man) await man.write(`${row.line},${row.defect}\n`);
      } else {
        if (firstClean === null) firstClean = row.text;
        lastClean = row.text;
      }
    }
    await csv.close();
    if (man) await man.close();
  } catch (err) {
    csvStream.destroy();
    manStream?.destroy();
    throw err;
  }
  const tsOf = (line: string | null) => (line === null ? null : (line.split(',', 2)[1] ?? null));
  return { rows, defective, defects, first: tsOf(firstClean), last: tsOf(lastClean), bytes: csvStream.bytesWritten };
}

/** Streams patients.json (one object per line) to `file`. */
export async function writePatientsJson(opts: { file: string; patients?: number; seed?: number }): Promise<number> {
  const n = opts.patients ?? DEFAULTS.patients;
  const seed = (opts.seed ?? DEFAULTS.seed) >>> 0;
  const stream = createWriteStream(opts.file, { encoding: 'utf8' });
  const w = new ChunkWriter(stream);
  try {
    await w.write('[\n');
    for (let i = 0; i < n; i++) {
      await w.write(`  ${JSON.stringify(makePatient(seed, i))}${i < n - 1 ? ',' : ''}\n`);
    }
    await w.write(']\n');
    await w.close();
  } catch (err) {
    stream.destroy();
    throw err;
  }
  return n;
}

export interface DatasetSummary extends ReadingsSummary {
  patients: number;
  out: string;
  manifest: string | null;
}

/**
 * Writes patients.json, readings.csv and (if `dirty` was given) dirty-manifest.csv into
 * `out`. Without `dirty` a stale manifest in `out` is removed so it cannot mislead.
 */
export async function generateDataset(opts: GenOptions & { out: string }): Promise<DatasetSummary> {
  const r = resolve(opts); // validate before touching the file system
  mkdirSync(opts.out, { recursive: true });
  const manifestPath = join(opts.out, 'dirty-manifest.csv');
  const withManifest = opts.dirty !== undefined;
  if (!withManifest) rmSync(manifestPath, { force: true });
  await writePatientsJson({ file: join(opts.out, 'patients.json'), patients: r.patients, seed: r.seed });
  const s = await writeReadingsCsv({
    ...opts,
    file: join(opts.out, 'readings.csv'),
    ...(withManifest ? { manifestFile: manifestPath } : {}),
  });
  return { ...s, patients: r.patients, out: opts.out, manifest: withManifest ? manifestPath : null };
}

// ---------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------

export const USAGE = `Usage: npx tsx scripts/gen-data.ts --out DIR [options]

  --out DIR        output directory (required; created if missing)
  --patients N     number of patients (default ${DEFAULTS.patients})
  --rows N         total data rows in readings.csv (default patients x ${DEFAULTS.readingsPerDay} x days)
  --days N         days covered, ending at --end (default ${DEFAULTS.days})
  --seed N         PRNG seed, uint32 (default ${DEFAULTS.seed})
  --end ISO        newest timestamp, UTC, YYYY-MM-DDTHH:MM:SS (default ${DEFAULTS.end})
  --dirty F        fraction 0..1 of rows made defective; writes DIR/dirty-manifest.csv
  -h, --help       show this help`;

function parseIntOpt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${name} must be a non-negative integer, got "${v}"`);
  return Number(v);
}

const CLI_OPTIONS = {
  out: { type: 'string' },
  patients: { type: 'string' },
  rows: { type: 'string' },
  days: { type: 'string' },
  seed: { type: 'string' },
  end: { type: 'string' },
  dirty: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Parses CLI arguments into options; throws UsageError on bad input. */
export function parseCli(argv: string[]): (GenOptions & { out: string }) | 'help' {
  let values: ReturnType<typeof parseArgs<{ options: typeof CLI_OPTIONS }>>['values'];
  try {
    ({ values } = parseArgs({ args: argv, strict: true, allowPositionals: false, options: CLI_OPTIONS }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  if (values.out === undefined || values.out === '') throw new UsageError('--out DIR is required');
  const opts: GenOptions & { out: string } = { out: values.out };
  const patients = parseIntOpt('patients', values.patients);
  const rows = parseIntOpt('rows', values.rows);
  const days = parseIntOpt('days', values.days);
  const seed = parseIntOpt('seed', values.seed);
  if (patients !== undefined) opts.patients = patients;
  if (rows !== undefined) opts.rows = rows;
  if (days !== undefined) opts.days = days;
  if (seed !== undefined) {
    if (seed > 0xffffffff) throw new UsageError('--seed must be <= 4294967295');
    opts.seed = seed;
  }
  if (values.end !== undefined) opts.end = values.end;
  if (values.dirty !== undefined) {
    if (!/^(?:\d+(?:\.\d*)?|\.\d+)$/.test(values.dirty))
      throw new UsageError(`--dirty must be a number 0..1, got "${values.dirty}"`);
    opts.dirty = Number(values.dirty);
  }
  resolve(opts); // full validation up front
  return opts;
}

export async function main(argv: string[]): Promise<number> {
  let opts: (GenOptions & { out: string }) | 'help';
  try {
    opts = parseCli(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`gen-data: ${err.message}\n\n${USAGE}\n`);
      return 2;
    }
    throw err;
  }
  if (opts === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const t0 = process.hrtime.bigint();
  const s = await generateDataset(opts);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const dirtyPart = s.manifest === null ? '' : `, ${s.defective} defective -> ${s.manifest}`;
  process.stderr.write(
    `gen-data: ${s.patients} patient${s.patients === 1 ? '' : 's'}, ${s.rows} rows (${s.first ?? '-'} .. ${s.last ?? '-'}), ` +
      `${(s.bytes / 1e6).toFixed(1)} MB in ${s.out}${dirtyPart}; ${secs.toFixed(2)}s\n`,
  );
  return 0;
}

function isEntryPoint(): boolean {
  const arg = process.argv[1];
  if (arg === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(arg)).href;
  } catch {
    return import.meta.url === pathToFileURL(arg).href;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`gen-data: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
