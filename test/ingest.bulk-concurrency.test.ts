/**
 * BULK_CONCURRENCY on POST /api/v1/biometrics/bulk: requests beyond the limit wait in
 * arrival order, and a request whose response ended while it waited (timeout, client gone,
 * shutdown) writes nothing. The test holds the only slot itself, so ordering is shown by
 * the limiter's queue and by the results, not by timing.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildApp } from '../src/app.js';
import { type Database, queryRows } from '../src/db/database.js';
import { createLimiter, type Limiter } from '../src/modules/ingest/ingest.limiter.js';
import { createKey } from '../src/modules/keys/keys.service.js';
import { testConfig, uniqueEmail } from './helpers/app.js';
import { createTestDatabase } from './helpers/database.js';
import { expectProblem } from './helpers/problem.js';

let database: Database;
let adminKey: string;
beforeAll(async () => {
  database = await createTestDatabase();
  adminKey = (await createKey({ db: database.db }, { name: 'test admin', role: 'admin', patientIds: null })).key;
});
afterAll(async () => {
  await database?.close();
});

/** An app whose bulk route takes turns from `limiter`. */
async function appWith(limiter: Limiter, env: Record<string, string> = {}): Promise<FastifyInstance> {
  const app = await buildApp({ config: testConfig({ BULK_CONCURRENCY: '1', ...env }), database, bulkLimiter: limiter });
  await app.ready();
  return app;
}

async function createPatient(app: FastifyInstance): Promise<number> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/patients',
    headers: { authorization: `Bearer ${adminKey}` },
    payload: { name: 'Bulk Turns', dob: '1970-01-01', gender: 'other', email: uniqueEmail('turns') },
  });
  expect(res.statusCode).toBe(201);
  return res.json().id;
}

function bulk(app: FastifyInstance, items: unknown[]) {
  return app.inject({
    method: 'POST',
    url: '/api/v1/biometrics/bulk',
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    payload: JSON.stringify(items),
  });
}

const glucose = (patientId: number, value: number) => [
  { patient_id: patientId, timestamp: '2025-05-24T08:00:00Z', type: 'glucose', value },
];

/** The patient's stored readings and change-buffer rows. */
async function state(patientId: number) {
  const readings = await queryRows<{ type: string; value: number }>(
    database.db,
    sql`select type, value from biometrics where patient_id = ${patientId} order by id`,
  );
  const [buffer] = await queryRows<{ n: number }>(
    database.db,
    sql`select count(*)::int as n from biometrics_hourly where patient_id = ${patientId}`,
  );
  return { readings: readings.map((r) => ({ type: r.type, value: Number(r.value) })), buffered: Number(buffer?.n) };
}

describe('BULK_CONCURRENCY = 1', () => {
  it('processes two concurrent bulk requests one after the other, in arrival order', async () => {
    const limiter = createLimiter(1);
    // Records each turn, so an overlap would show as two starts in a row.
    const turns: string[] = [];
    let n = 0;
    const watched: Limiter = {
      async acquire(signal) {
        const release = await limiter.acquire(signal);
        const turn = ++n;
        turns.push(`start ${turn}`);
        return () => {
          turns.push(`end ${turn}`);
          release();
        };
      },
      close: () => limiter.close(),
      get active() {
        return limiter.active;
      },
      get waiting() {
        return limiter.waiting;
      },
    };
    const app = await appWith(watched);
    try {
      const patientId = await createPatient(app);
      const hold = await limiter.acquire();
      const first = bulk(app, glucose(patientId, 100));
      await vi.waitFor(() => expect(limiter.waiting).toBe(1));
      const second = bulk(app, glucose(patientId, 110));
      await vi.waitFor(() => expect(limiter.waiting).toBe(2));
      // Both wait while the slot is taken, and neither has written anything.
      expect({ active: limiter.active, turns, state: await state(patientId) }).toEqual({
        active: 1,
        turns: [],
        state: { readings: [], buffered: 0 },
      });

      hold();
      const [a, b] = await Promise.all([first, second]);
      // The same reading: the first request inserts it, the second one updates it.
      expect({ status: a.statusCode, body: a.json() }).toEqual({
        status: 200,
        body: {
          summary: { received: 1, inserted: 1, updated: 0, unchanged: 0, duplicate: 0, rejected: 0 },
          results: [{ index: 0, status: 'inserted' }],
        },
      });
      expect({ status: b.statusCode, body: b.json() }).toEqual({
        status: 200,
        body: {
          summary: { received: 1, inserted: 0, updated: 1, unchanged: 0, duplicate: 0, rejected: 0 },
          results: [{ index: 0, status: 'updated' }],
        },
      });
      expect(turns).toEqual(['start 1', 'end 1', 'start 2', 'end 2']);
      expect({ active: limiter.active, waiting: limiter.waiting }).toEqual({ active: 0, waiting: 0 });
      expect(await state(patientId)).toEqual({ readings: [{ type: 'glucose', value: 110 }], buffered: 2 });
    } finally {
      await app.close();
    }
  });

  it('a request that times out while waiting gets 503 and writes nothing', async () => {
    const limiter = createLimiter(1);
    const app = await appWith(limiter, { REQUEST_TIMEOUT_MS: '1000' });
    try {
      const patientId = await createPatient(app);
      const hold = await limiter.acquire();
      const res = await bulk(app, glucose(patientId, 100));
      expectProblem(res, {
        status: 503,
        code: 'timeout',
        detail: 'The request took too long; retry later or narrow it',
        instance: '/api/v1/biometrics/bulk',
      });
      // It left the queue, so freeing the slot starts nothing.
      await vi.waitFor(() => expect(limiter.waiting).toBe(0));
      hold();
      expect({ active: limiter.active, waiting: limiter.waiting }).toEqual({ active: 0, waiting: 0 });
      expect(await state(patientId)).toEqual({ readings: [], buffered: 0 });
    } finally {
      await app.close();
    }
  });

  it('a request whose client disconnects while waiting leaves the queue and writes nothing', async () => {
    const limiter = createLimiter(1);
    const app = await appWith(limiter);
    try {
      const patientId = await createPatient(app);
      await app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = app.server.address() as AddressInfo;
      const hold = await limiter.acquire();
      const body = JSON.stringify(glucose(patientId, 100));
      const req = http.request({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/api/v1/biometrics/bulk',
        headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      });
      const settled = new Promise<string>((resolve) => {
        req.on('response', () => resolve('answered'));
        req.on('error', () => resolve('aborted'));
        req.on('close', () => resolve('aborted'));
      });
      req.end(body);
      await vi.waitFor(() => expect(limiter.waiting).toBe(1));
      req.destroy();
      expect(await settled).toBe('aborted');
      await vi.waitFor(() => expect(limiter.waiting).toBe(0));
      hold();
      expect({ active: limiter.active, waiting: limiter.waiting }).toEqual({ active: 0, waiting: 0 });
      expect(await state(patientId)).toEqual({ readings: [], buffered: 0 });
    } finally {
      await app.close();
    }
  });

  it('a request still waiting when the application closes gets 503 and writes nothing', async () => {
    const limiter = createLimiter(1);
    const app = await appWith(limiter);
    const patientId = await createPatient(app);
    const hold = await limiter.acquire();
    const pending = bulk(app, glucose(patientId, 100));
    await vi.waitFor(() => expect(limiter.waiting).toBe(1));
    await app.close();
    const res = await pending;
    expectProblem(res, {
      status: 503,
      code: 'shutting_down',
      detail: 'This instance is shutting down; retry shortly',
      instance: '/api/v1/biometrics/bulk',
    });
    expect(res.headers['retry-after']).toBe('5');
    hold();
    expect({ active: limiter.active, waiting: limiter.waiting }).toEqual({ active: 0, waiting: 0 });
    expect(await state(patientId)).toEqual({ readings: [], buffered: 0 });
  });
});
