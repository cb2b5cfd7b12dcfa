/**
 * The database schema, shared by PGlite and PostgreSQL. Every table holding per-patient
 * data carries `patient_id` in its primary key or unique constraints so it can be
 * distributed by patient (see docs/DESIGN.md, "Scaling out").
 */
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  date,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

const tsz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const patients = pgTable(
  'patients',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    name: text('name').notNull(),
    dob: date('dob', { mode: 'string' }).notNull(),
    gender: text('gender').notNull(),
    address: text('address'),
    email: text('email').notNull(),
    phone: text('phone'),
    createdAt: tsz('created_at').notNull().defaultNow(),
    updatedAt: tsz('updated_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('patients_email_key').on(t.email),
    check('patients_gender_check', sql`${t.gender} in ('male', 'female', 'other')`),
  ],
);

export const biometrics = pgTable(
  'biometrics',
  {
    id: bigint('id', { mode: 'number' }).generatedByDefaultAsIdentity().notNull(),
    patientId: integer('patient_id')
      .notNull()
      .references(() => patients.id, { onDelete: 'cascade' }),
    type: text('type').notNull(),
    value: doublePrecision('value').notNull(),
    unit: text('unit').notNull(),
    timestamp: tsz('timestamp').notNull(),
    createdAt: tsz('created_at').notNull().defaultNow(),
    updatedAt: tsz('updated_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'biometrics_pkey', columns: [t.patientId, t.id] }),
    // Upsert target and the "history of one type, newest first" path.
    uniqueIndex('biometrics_patient_type_ts_key').on(t.patientId, t.type, t.timestamp),
    // "History of all types, newest first" without a sort.
    index('biometrics_patient_ts_idx').on(t.patientId, t.timestamp.desc(), t.id.desc()),
    index('biometrics_id_idx').on(t.id),
    check('biometrics_type_check', sql`${t.type} in ('glucose', 'systolic', 'diastolic', 'weight')`),
  ],
);

/**
 * Reading counts per patient and type, as deltas: the triggers of migration 0004 (which
 * drizzle-kit cannot express) append one row per statement and (patient, type), and a
 * patient's rows are folded into one per type when they pile up. The sum of a patient's
 * rows is the exact number of its readings; appending takes no lock, so writers never wait
 * for each other here.
 */
export const biometricsCounts = pgTable(
  'biometrics_counts',
  {
    id: bigint('id', { mode: 'number' }).generatedByDefaultAsIdentity().notNull(),
    patientId: integer('patient_id')
      .notNull()
      .references(() => patients.id, { onDelete: 'cascade' }),
    type: text('type').notNull(),
    n: bigint('n', { mode: 'number' }).notNull(),
  },
  // One index: a patient's rows are few (folded past a threshold), a type filter reads them all.
  (t) => [primaryKey({ name: 'biometrics_counts_pkey', columns: [t.patientId, t.id] })],
);

/**
 * The change buffer for the incremental (v2) analytics engine: one row per touched
 * bucket, written in the same transaction as the reading change.
 */
export const biometricsHourly = pgTable(
  'biometrics_hourly',
  {
    id: bigint('id', { mode: 'number' }).generatedByDefaultAsIdentity().notNull(),
    patientId: integer('patient_id').notNull(),
    type: text('type').notNull(),
    bucketStart: tsz('bucket_start').notNull(),
    changedAt: tsz('changed_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ name: 'biometrics_hourly_pkey', columns: [t.patientId, t.id] })],
);

/**
 * One row per (patient, type, UTC hour) that has readings. Stored with fillfactor 90 (set in
 * migration 0002, which drizzle-kit cannot express) so engine updates stay HOT.
 */
export const analytics = pgTable(
  'analytics',
  {
    patientId: integer('patient_id')
      .notNull()
      .references(() => patients.id, { onDelete: 'cascade' }),
    type: text('type').notNull(),
    bucketStart: tsz('bucket_start').notNull(),
    min: doublePrecision('min').notNull(),
    max: doublePrecision('max').notNull(),
    sum: doublePrecision('sum').notNull(),
    count: integer('count').notNull(),
    computedAt: tsz('computed_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'analytics_pkey', columns: [t.patientId, t.type, t.bucketStart] }),
    index('analytics_bucket_idx').on(t.bucketStart.desc()),
  ],
);

/**
 * One row per analytics job run. The (started_at, id) index serves the newest-first listing
 * (read backwards) and the "a run since this tick" check of every scheduled tick.
 */
export const analyticsRuns = pgTable(
  'analytics_runs',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    version: integer('version').notNull(),
    trigger: text('trigger').notNull(),
    instance: text('instance').notNull(),
    status: text('status').notNull(),
    startedAt: tsz('started_at').notNull(),
    finishedAt: tsz('finished_at'),
    bucketsTouched: integer('buckets_touched').notNull().default(0),
    rowsConsumed: integer('rows_consumed').notNull().default(0),
    error: text('error'),
  },
  (t) => [index('analytics_runs_started_idx').on(t.startedAt, t.id)],
);

/** API keys, stored only as SHA-256 hashes of high-entropy secrets. */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    name: text('name').notNull(),
    prefix: text('prefix').notNull(),
    keyHash: text('key_hash').notNull(),
    role: text('role').notNull(),
    /** When set, the key may only touch these patients. */
    patientIds: integer('patient_ids').array(),
    bootstrap: boolean('bootstrap').notNull().default(false),
    createdAt: tsz('created_at').notNull().defaultNow(),
    expiresAt: tsz('expires_at'),
    revokedAt: tsz('revoked_at'),
  },
  (t) => [
    uniqueIndex('api_keys_hash_key').on(t.keyHash),
    uniqueIndex('api_keys_prefix_key').on(t.prefix),
    check('api_keys_role_check', sql`${t.role} in ('admin', 'clinician', 'device', 'patient', 'reader', 'metrics')`),
  ],
);

/** Append-only audit trail; UPDATE, DELETE and TRUNCATE are rejected by triggers. */
export const auditEvents = pgTable(
  'audit_events',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    at: tsz('at').notNull().defaultNow(),
    keyId: integer('key_id'),
    role: text('role'),
    action: text('action').notNull(),
    method: text('method'),
    route: text('route'),
    status: integer('status'),
    outcome: text('outcome').notNull(),
    patientIds: integer('patient_ids').array(),
    recordIds: bigint('record_ids', { mode: 'number' }).array(),
    requestId: text('request_id'),
    clientIp: text('client_ip'),
    detail: jsonb('detail'),
  },
  (t) => [
    index('audit_events_at_idx').on(t.at.desc()),
    index('audit_events_key_idx').on(t.keyId, t.at.desc()),
    index('audit_events_patients_idx').using('gin', t.patientIds),
  ],
);
