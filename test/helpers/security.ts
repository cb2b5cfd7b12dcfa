/** Fixtures shared by the security tests: keys in every state, patients, readings, logs. */
import { Writable } from 'node:stream';
import { eq } from 'drizzle-orm';
import type { LightMyRequestResponse } from 'fastify';
import type { DestinationStream } from 'pino';
import { expect } from 'vitest';
import type { Db } from '../../src/db/database.js';
import { auditEvents } from '../../src/db/schema.js';
import { insertKey } from '../../src/modules/keys/keys.repository.js';
import type { Role } from '../../src/modules/keys/keys.roles.js';
import { createKey, generateKey, hashKey, revokeKeyById } from '../../src/modules/keys/keys.service.js';
import { type TestApp, uniqueEmail } from './app.js';

export const ROLE_LIST: Role[] = ['admin', 'clinician', 'device', 'patient', 'reader', 'metrics'];

/** A key whose expiry has passed (inserted directly: the service refuses past expiries). */
export async function expiredKey(db: Db, role: Role = 'admin'): Promise<string> {
  const { key, prefix } = generateKey();
  await insertKey(db, {
    name: `expired ${role}`,
    prefix,
    keyHash: hashKey(key),
    role,
    expiresAt: new Date(Date.now() - 60_000),
  });
  return key;
}

/** A key that has been revoked. */
export async function revokedKey(db: Db, role: Role = 'admin'): Promise<string> {
  const { key, info } = await createKey({ db }, { name: `revoked ${role}`, role });
  await revokeKeyById({ db }, info.id);
  return key;
}

/** A well-formed key that was never issued. */
export function unknownKey(): string {
  return generateKey().key;
}

let seq = 0;
/** A fresh patient created through the API with the admin key. */
export async function newPatient(
  t: TestApp,
  fields: Record<string, unknown> = {},
): Promise<{ id: number; name: string; email: string }> {
  seq += 1;
  const res = await t.call(t.adminKey, {
    method: 'POST',
    url: '/api/v1/patients',
    payload: { name: `Fixture Person ${seq}`, dob: '1970-01-01', gender: 'other', email: uniqueEmail('fx'), ...fields },
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

let tsSeq = 0;
/** A distinct timestamp per call, so readings never collide. */
export function uniqueTimestamp(): string {
  tsSeq += 1;
  return new Date(Date.UTC(2024, 0, 1) + tsSeq * 60_000 + (process.pid % 1000) * 86_400_000).toISOString();
}

/** A fresh reading for `patientId` through the API with the admin key. */
export async function newReading(t: TestApp, patientId: number, value = 100): Promise<{ id: number }> {
  const res = await t.call(t.adminKey, {
    method: 'POST',
    url: '/api/v1/biometrics',
    payload: { patient_id: patientId, timestamp: uniqueTimestamp(), type: 'glucose', value },
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

/** A log destination that keeps every line in memory. */
export function captureLogs(): { stream: DestinationStream; text(): string; lines(): Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return {
    stream: stream as unknown as DestinationStream,
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

let rid = 0;
/** A request id unique to this test run, to find the request's audit event. */
export function requestId(label = 'r'): string {
  rid += 1;
  return `${label}-${process.pid}-${Date.now().toString(36)}-${rid}`;
}

/** The audit events recorded for one request id. */
export async function auditEventsFor(db: Db, id: string) {
  return db.select().from(auditEvents).where(eq(auditEvents.requestId, id));
}

/** Problem body fields that do not depend on the request. */
export function problemShape(res: LightMyRequestResponse) {
  const b = res.json() as Record<string, unknown>;
  return { status: b.status, code: b.code, title: b.title, detail: b.detail, type: b.type };
}
