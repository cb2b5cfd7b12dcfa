/**
 * Realistic, deterministic readings for dashboard tests and screenshots: a handful of
 * patients with different pictures (in range, hypoglycaemia, hypertension, sparse data)
 * over the last 30 days, and the hourly analytics computed from them as the analytics
 * job would (the job itself is not part of this test).
 */
import { sql } from 'drizzle-orm';
import type { Db } from '../../src/db/database.js';
import { queryRows } from '../../src/db/database.js';
import { biometrics, patients } from '../../src/db/schema.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A small seeded PRNG (mulberry32) so every run draws the same curves. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Profile {
  name: string;
  dob: string;
  gender: 'female' | 'male' | 'other';
  glucoseBase: number;
  glucoseSwing: number;
  /** Glucose readings per day (0 = none). */
  glucosePerDay: number;
  sys: number;
  dia: number;
  weight: number;
  /** The last glucose value, to control the patient's status. */
  lastGlucose?: number;
  /** A second glucose reading a few minutes after each one (so hours have a min–max spread). */
  recheck?: boolean;
}

const PROFILES: Profile[] = [
  {
    name: 'Ana Souza',
    dob: '1958-04-12',
    gender: 'female',
    glucoseBase: 150,
    glucoseSwing: 55,
    glucosePerDay: 6,
    sys: 136,
    dia: 86,
    weight: 74.2,
    recheck: true,
  },
  {
    name: 'Bruno Keller',
    dob: '1971-09-30',
    gender: 'male',
    glucoseBase: 115,
    glucoseSwing: 25,
    glucosePerDay: 4,
    sys: 118,
    dia: 76,
    weight: 88.5,
  },
  {
    name: 'Chioma Okafor',
    dob: '1949-01-05',
    gender: 'female',
    glucoseBase: 95,
    glucoseSwing: 30,
    glucosePerDay: 5,
    sys: 152,
    dia: 94,
    weight: 67.0,
    lastGlucose: 58,
  },
  {
    name: 'Dmitri Volkov',
    dob: '1965-06-18',
    gender: 'male',
    glucoseBase: 210,
    glucoseSwing: 60,
    glucosePerDay: 4,
    sys: 184,
    dia: 118,
    weight: 101.3,
  },
  {
    name: 'Elif Yilmaz',
    dob: '1988-11-22',
    gender: 'female',
    glucoseBase: 120,
    glucoseSwing: 20,
    glucosePerDay: 3,
    sys: 124,
    dia: 78,
    weight: 61.4,
  },
  {
    name: 'Farah Haddad',
    dob: '1979-03-03',
    gender: 'other',
    glucoseBase: 0,
    glucoseSwing: 0,
    glucosePerDay: 0,
    sys: 128,
    dia: 82,
    weight: 79.9,
  },
];

export interface SeededPatient {
  id: number;
  name: string;
  email: string;
}

/**
 * Inserts the patients and 30 days of readings ending at `now`, plus their hourly
 * analytics. Meant for a fresh test database (the emails are fixed).
 */
export async function seedDashboard(db: Db, now: Date, days = 30): Promise<SeededPatient[]> {
  const out: SeededPatient[] = [];
  const end = Math.floor(now.getTime() / 60_000) * 60_000 - 10 * 60_000;
  for (const [pi, p] of PROFILES.entries()) {
    // Readable addresses for the screenshots; the seed always goes into a fresh database.
    const email = `${p.name.toLowerCase().replace(' ', '.')}@example.org`;
    const [row] = await db
      .insert(patients)
      .values({ name: p.name, dob: p.dob, gender: p.gender, email, address: null, phone: null })
      .returning({ id: patients.id });
    if (!row) throw new Error('patient insert failed');
    const rand = rng(pi + 1);
    const values: (typeof biometrics.$inferInsert)[] = [];
    const add = (type: string, value: number, ts: number, unit: string) =>
      values.push({ patientId: row.id, type, value: Math.round(value * 10) / 10, unit, timestamp: new Date(ts) });
    for (let d = days - 1; d >= 0; d--) {
      const dayStart = end - d * DAY - 14 * HOUR;
      for (let k = 0; k < p.glucosePerDay; k++) {
        const ts = dayStart + (k * 14 * HOUR) / p.glucosePerDay + Math.floor(rand() * 40) * 60_000;
        const meal = Math.sin((k / p.glucosePerDay) * Math.PI * 2) * p.glucoseSwing;
        const v = Math.max(45, p.glucoseBase + meal + (rand() - 0.5) * p.glucoseSwing * 0.8);
        add('glucose', v, ts, 'mg/dL');
        if (p.recheck) add('glucose', Math.max(45, v + (rand() - 0.5) * 50), ts + 12 * 60_000, 'mg/dL');
      }
      for (const hour of [1, 11]) {
        const ts = dayStart + hour * HOUR + Math.floor(rand() * 20) * 60_000;
        add('systolic', p.sys + (rand() - 0.5) * 14, ts, 'mmHg');
        add('diastolic', p.dia + (rand() - 0.5) * 9, ts, 'mmHg');
      }
      add(
        'weight',
        p.weight + (days - d) * 0.02 * (pi % 2 ? 1 : -1) + (rand() - 0.5) * 0.6,
        dayStart + 30 * 60_000,
        'kg',
      );
    }
    if (p.lastGlucose !== undefined) add('glucose', p.lastGlucose, end - 20 * 60_000, 'mg/dL');
    // A patient in crisis: make the latest pair unambiguous.
    if (p.sys > 180) {
      add('systolic', 186, end - 30 * 60_000, 'mmHg');
      add('diastolic', 122, end - 30 * 60_000, 'mmHg');
    }
    for (let i = 0; i < values.length; i += 500) {
      await db
        .insert(biometrics)
        .values(values.slice(i, i + 500))
        .onConflictDoNothing();
    }
    out.push({ id: row.id, name: p.name, email });
  }
  await computeAnalytics(db);
  return out;
}

/** Recomputes the hourly analytics of every stored reading (what a v1 run does). */
export async function computeAnalytics(db: Db): Promise<void> {
  await queryRows(db, sql`delete from analytics`);
  await queryRows(
    db,
    sql`insert into analytics (patient_id, type, bucket_start, min, max, sum, count)
        select patient_id, type, date_trunc('hour', timestamp, 'UTC'), min(value), max(value), sum(value), count(*)
        from biometrics group by 1, 2, 3`,
  );
}
