/**
 * Which driver errors mean "the database is unavailable" (503) and how database errors
 * are logged (without the query parameters an ORM error message carries).
 */
import { DrizzleQueryError, eq } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../src/db/database.js';
import { auditEvents } from '../src/db/schema.js';
import { isDatabaseUnavailable } from '../src/http/plugins/problem.js';
import { buildLoggerOptions } from '../src/http/server-options.js';
import { createTestApp, type TestApp, uniqueEmail } from './helpers/app.js';
import { createPgTestDatabase, TEST_DB } from './helpers/database.js';
import { expectProblem } from './helpers/problem.js';
import { captureLogs } from './helpers/security.js';

function pgError(code: string, message: string, severity = 'ERROR'): Error {
  return Object.assign(new Error(message), { code, severity });
}

describe('isDatabaseUnavailable', () => {
  it.each([
    [
      'backend terminated (pg_terminate_backend)',
      pgError('57P01', 'terminating connection due to administrator command'),
    ],
    ['crash shutdown', pgError('57P02', 'terminating connection because of crash of another server process')],
    ['server starting up', pgError('57P03', 'the database system is starting up')],
    ['too many connections', pgError('53300', 'sorry, too many clients already')],
    ['out of memory (class 53)', pgError('53200', 'out of memory')],
    ['disk full (class 53)', pgError('53100', 'could not extend file: No space left on device')],
    [
      'connections to the database disallowed',
      pgError('55000', 'database "pp" is not currently accepting connections'),
    ],
    ['database does not exist', pgError('3D000', 'database "pp" does not exist')],
    ['database dropped', pgError('57P04', 'terminating connection because the database was dropped')],
    ['role refused', pgError('28000', 'role "pp" does not exist')],
    ['password refused', pgError('28P01', 'password authentication failed for user "pp"')],
    ['any other refusal that ends the session', pgError('0A000', 'unsupported frontend protocol', 'FATAL')],
    ['connection failure', pgError('08006', 'connection failure')],
    ['connection refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    ['DNS failure of the database host', Object.assign(new Error('getaddrinfo EAI_AGAIN db'), { code: 'EAI_AGAIN' })],
    ['dropped socket', new Error('Connection terminated unexpectedly')],
    ['pool connect timeout', new Error('timeout exceeded when trying to connect')],
    ['client-side query timeout', new Error('Query read timeout')],
    ['dead client reused', new Error('Client was closed and is not queryable')],
    [
      'every address refused',
      new AggregateError([Object.assign(new Error('connect ECONNREFUSED ::1:5432'), { code: 'ECONNREFUSED' })]),
    ],
    [
      'wrapped by the ORM',
      new DrizzleQueryError('select 1', [], pgError('57P01', 'terminating connection due to administrator command')),
    ],
  ])('%s: yes', (_name, err) => {
    expect(isDatabaseUnavailable(err)).toBe(true);
  });

  it.each([
    ['unique violation', pgError('23505', 'duplicate key value violates unique constraint')],
    ['missing table', pgError('42P01', 'relation "x" does not exist')],
    ['another object_not_in_prerequisite_state', pgError('55000', 'prepared transactions are disabled')],
    ['object in use', pgError('55006', 'database "x" is being accessed by other users')],
    ['a FATAL-looking error without a SQLSTATE', Object.assign(new Error('FATAL'), { severity: 'FATAL' })],
    ['statement timeout (its own 503)', pgError('57014', 'canceling statement due to statement timeout')],
    ['a bug', new TypeError('cannot read properties of undefined')],
    ['not an error', 'oops'],
    ['nothing', undefined],
  ])('%s: no', (_name, err) => {
    expect(isDatabaseUnavailable(err)).toBe(false);
  });
});

describe('error log serializer', () => {
  const serialize = buildLoggerOptions({ logLevel: 'info', logPretty: false }).serializers?.err as (
    e: unknown,
  ) => Record<string, unknown>;

  it('logs a failed ORM query by its driver cause, never with the query parameters', () => {
    const cause = pgError('23505', 'duplicate key value violates unique constraint "patients_email_key"');
    const wrapped = new DrizzleQueryError(
      'insert into patients (name, email) values ($1, $2)',
      ['Ana Souza', 'ana@example.org'],
      cause,
    );
    const logged = serialize(wrapped);
    expect(logged).toMatchObject({ message: 'database error 23505', sqlState: '23505' });
    expect(JSON.stringify(logged)).not.toContain('ana@example.org');
    expect(JSON.stringify(logged)).not.toContain('Ana Souza');
  });

  it('hides the message of an ORM error without a cause', () => {
    const logged = serialize(new DrizzleQueryError('select $1', ['secret@example.org']));
    expect(logged).toMatchObject({ message: 'database error' });
    expect(JSON.stringify(logged)).not.toContain('secret@example.org');
  });

  it('keeps ordinary errors as they are', () => {
    const err = Object.assign(new Error('boom'), { code: 'X1' });
    expect(serialize(err)).toMatchObject({
      type: 'Error',
      code: 'X1',
      message: 'boom',
      stack: expect.stringContaining('    at '),
    });
  });
});

/**
 * PostgreSQL refusing connections to a scratch database: its connections disallowed and
 * the pool's backends terminated, then the database renamed away. Every request that needs
 * it answers 503 database_unavailable with Retry-After (never 500), and service resumes
 * once it is back.
 */
describe.runIf(TEST_DB === 'postgres')('database refusing connections (PostgreSQL)', () => {
  let created: Awaited<ReturnType<typeof createPgTestDatabase>>;
  let database: Database;
  let t: TestApp;
  let admin: pg.Client;
  const logs = captureLogs();

  beforeAll(async () => {
    created = await createPgTestDatabase();
    database = await openDatabase({ databaseUrl: created.url, poolMax: 2, connectTimeoutMs: 2_000 });
    t = await createTestApp({ database, logStream: logs.stream, env: { LOG_LEVEL: 'info' } });
    admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await admin.connect();
  });
  afterAll(async () => {
    await t?.close();
    await database?.close();
    await admin?.end();
    await created?.drop();
  });

  const terminate = (name: string) =>
    admin.query(
      'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
      [name],
    );

  async function expectUnavailable(url: string): Promise<void> {
    const res = await t.call(t.adminKey, { method: 'GET', url });
    expectProblem(res, {
      status: 503,
      code: 'database_unavailable',
      detail: 'The database is unavailable; retry shortly',
      instance: url,
    });
    expect(res.headers['retry-after']).toBe('2');
  }

  it('answers 503 database_unavailable, not 500, and recovers once connections are allowed again', async () => {
    const created1 = await t.call(t.adminKey, {
      method: 'POST',
      url: '/api/v1/patients',
      payload: { name: 'Refused Patient', dob: '1970-01-01', gender: 'male', email: uniqueEmail('refused') },
    });
    expect(created1.statusCode).toBe(201);
    const url = `/api/v1/patients/${created1.json().id}`;
    const moved = `${created.name}_moved`;
    let renamed = false;
    try {
      // 55000 "not currently accepting connections" (after 57P01 for the pool's own backends).
      await admin.query(`alter database "${created.name}" allow_connections false`);
      await terminate(created.name);
      await expectUnavailable(url);
      await expectUnavailable(url);
      const sqlStates = logs
        .lines()
        .filter((l) => l.msg === 'database unavailable')
        .map((l) => (l.err as { sqlState?: string }).sqlState);
      expect(sqlStates).toContain('55000');
      // The audit event of a request that failed anyway is logged as lost; its answer stays the 503.
      expect(logs.lines().some((l) => l.msg === 'audit event of a failed request could not be recorded')).toBe(true);
      expect(logs.text()).not.toContain('response withheld');

      // 3D000: the database is not there under its name (for example mid-restore).
      await admin.query(`alter database "${created.name}" rename to "${moved}"`);
      renamed = true;
      await admin.query(`alter database "${moved}" allow_connections true`);
      await expectUnavailable(url);
      expect(
        logs
          .lines()
          .filter((l) => l.msg === 'database unavailable')
          .map((l) => (l.err as { sqlState?: string }).sqlState),
      ).toContain('3D000');
    } finally {
      if (renamed) await admin.query(`alter database "${moved}" rename to "${created.name}"`);
      await admin.query(`alter database "${created.name}" allow_connections true`);
    }
    const back = await t.call(t.adminKey, { method: 'GET', url });
    expect(back.statusCode).toBe(200);
    expect(back.json()).toMatchObject({ id: created1.json().id, name: 'Refused Patient' });
    // The trail holds the served requests only: the refused ones could not be written.
    const trail = await database.db
      .select({ status: auditEvents.status })
      .from(auditEvents)
      .where(eq(auditEvents.route, '/api/v1/patients/:id'));
    expect(trail.map((e) => e.status)).toEqual([200]);
  }, 60_000);
});
