/**
 * Which driver errors mean "the database is unavailable" (503) and how database errors
 * are logged (without the query parameters an ORM error message carries).
 */
import { DrizzleQueryError } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from '../src/http/plugins/problem.js';
import { buildLoggerOptions } from '../src/http/server-options.js';

function pgError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code, severity: 'FATAL' });
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
